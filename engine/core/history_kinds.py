"""The kinds of event `history` can filter on: here, outside the command layer, so the CLI's
argument parser names them without importing every command (a second of start-up)."""

from __future__ import annotations

HISTORY_KINDS = (
    "state",
    "incident",
    "maintenance",
    "target",
    "contact",
    "notify",
    "subscriber",
    "telegram",
    "benchmark",
    "rule",
    "apikey",
)
