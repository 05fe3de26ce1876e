"""Heartbeat (push) checks: Healthchecks' semantics as pure functions of `now`, and the
runner that takes pings in and turns them into state, durably.
"""
