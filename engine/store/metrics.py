"""What /metrics reads from the store: counts only, never a sealed value."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlmodel import col

from engine.store.models import Incident
from engine.store.store import Store


def incident_counts(store: Store, states: Iterable[str]) -> dict[str, int]:
    """How many incidents are in each of `states` (a state with none is absent)."""
    with store.session() as s:
        rows = s.execute(
            select(col(Incident.state), func.count())
            .where(col(Incident.state).in_(list(states)))
            .group_by(Incident.state)
        ).all()
    return {str(state): int(n) for state, n in rows}
