"""CLI: incidents, maintenance, contacts, notify, subscribers, telegram (filled as they land)."""

from __future__ import annotations

from typing import Any


def register(sub: Any, add_json: Any) -> None:
    return None
