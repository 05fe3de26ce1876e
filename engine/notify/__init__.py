"""Delivery: the durable outbox, its dispatcher, message rendering and templates, and the
channels (webhook, email, Slack, Discord, PagerDuty, Apprise).
"""
