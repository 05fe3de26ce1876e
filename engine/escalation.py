"""Escalation and resends for incidents that stay unacknowledged.

Level N+1 is notified when level N has neither read (where the channel reports reads) nor
acknowledged within `escalation_after`; every `resend_interval` the current level gets a reminder.
Acknowledge or resolve stops both. A silence ends by itself at its time.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from engine.store.models import Incident, Notification

if TYPE_CHECKING:
    from engine.alerting import Alerting


def escalate_and_resend(al: Alerting, now: float) -> None:
    store = al.store
    st = al.engine.settings.alerts
    with store.session() as s:
        open_incs = list(
            s.execute(
                select(Incident).where(col(Incident.state).in_(("firing", "silenced")))
            ).scalars()
        )
    for inc in open_incs:
        if inc.state == "silenced":
            if inc.silenced_until is not None and inc.silenced_until <= now:
                _set(store, inc.id, state="firing", silenced_until=None)
                al._audit("incident.unsilence", inc.id, "engine")
                al._publish(inc.id, "firing", inc.target_id, "silence ended")
            continue
        if inc.parent_incident_id:
            with store.session() as s:
                parent = s.get(Incident, inc.parent_incident_id)
            if parent is not None and parent.state != "resolved":
                continue  # held under its parent
            # The parent was resolved by hand (or is gone): its children page on their own now.
            al._release_children(parent or SimpleNamespace(id=inc.parent_incident_id), now)
            continue
        rec = al.engine.targets.get(inc.target_id or "")
        if rec is not None and al.in_maintenance(rec):
            continue
        with store.session() as s:
            notes = list(
                s.execute(select(Notification).where(Notification.incident_id == inc.id)).scalars()
            )
        level = inc.escalation_level
        current = [
            n for n in notes if n.level == level and n.kind in ("alert", "escalation", "flapping")
        ]
        if not current:
            continue
        first_at = min(n.created_at for n in current)
        read_or_acked = any(n.read_at is not None for n in current)
        due = not read_or_acked and now - first_at >= st.escalation_after
        if due and al.contacts_for(level + 1, inc.owner_id, exclude=al.excluded(inc)):
            _set(store, inc.id, escalation_level=level + 1)
            inc.escalation_level = level + 1
            al._notify_level(inc, rec, level + 1, "escalation", now)
            al._audit("incident.escalate", inc.id, "engine")
            continue
        last = inc.last_notified_at or first_at
        if now - last >= st.resend_interval:
            seq = 1 + sum(1 for n in notes if n.kind == "reminder")
            al._notify_level(inc, rec, level, "reminder", now, seq=seq)


def _set(store: Any, incident_id: str, **values: Any) -> None:
    with store.session() as s:
        row = s.get(Incident, incident_id)
        if row is not None:
            for k, v in values.items():
                setattr(row, k, v)
            s.add(row)
            s.commit()
