"""Who acknowledged an incident, sealed onto each notification that reached someone about it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from engine.store.models import Notification
from engine.store.store import Store


def mark_acked(store: Store, incident_id: str, by: str) -> None:
    """Seal `by` onto the incident's sent notifications (the receipts screen reads it)."""
    with store.session() as s:
        rows = list(
            s.execute(
                select(Notification).where(
                    col(Notification.incident_id) == incident_id,
                    col(Notification.status) == "sent",
                )
            ).scalars()
        )
        for n in rows:
            n.acked_by_s = store.seal("notifications", "acked_by_s", n.id, by)
            s.add(n)
        s.commit()
