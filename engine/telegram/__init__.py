"""Telegram as a user session: login and session store, the chat bridge and its commands
and roles, delivery, reactions and read receipts.
"""
