"""Incident states and dedup-key prefixes shared by the store, alerting and delivery: plain
constants, so the store can filter on them without importing alerting."""

from __future__ import annotations

OPEN_STATES = ("firing", "acknowledged", "silenced")
# Delivery trouble: the incident about a contact alerts cannot reach is keyed PREFIX + contact id.
DELIVERY_PREFIX = "delivery:"
# The severity of an incident by its kind, where no rule or benchmark sets one.
SEVERITY_BY_KIND = {
    "down": "high",
    "flapping": "medium",
    "heartbeat": "high",
    "telegram": "high",
    "delivery": "high",
    "engine": "critical",
}
