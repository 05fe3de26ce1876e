"""Escalation and resends for incidents that stay unacknowledged.

Level N+1 is notified when level N has neither read (where the channel reports reads) nor
acknowledged within `escalation_after`; every `resend_interval` the current level gets a reminder.
Acknowledge or resolve stops both. A silence ends by itself at its time.

A tick reads every open incident with what it needs in one query (`open_for_tick`), so its cost
does not grow by a query per incident; an incident is loaded whole only when it is acted on.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, case, func, select

from engine.store import contacts as cstore
from engine.store.models import Incident, Notification

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting

TICK_STATES = ("firing", "silenced")
# The notices that page a level; their first one starts its escalation clock.
CURRENT_KINDS = ("alert", "escalation", "flapping")


@functools.cache
def _tick_query() -> Select[Any]:
    """Every firing or silenced incident with its parent's state and, over its notifications, the
    first page at its current level, whether any of those was read, and its reminders so far.
    Built once: composing the statement costs more than running it on a small store."""
    i = Incident.__table__  # type: ignore[attr-defined]
    n = Notification.__table__  # type: ignore[attr-defined]
    p, own = i.alias("parent"), i.alias("own")
    current = and_(n.c.level == own.c.escalation_level, n.c.kind.in_(CURRENT_KINDS))
    notes = (
        select(
            n.c.incident_id,
            func.min(case((current, n.c.created_at))).label("first_at"),
            func.max(case((and_(current, n.c.read_at.is_not(None)), 1), else_=0)).label("read"),
            func.sum(case((n.c.kind == "reminder", 1), else_=0)).label("reminders"),
        )
        .select_from(n.join(own, own.c.id == n.c.incident_id))
        .where(own.c.state.in_(TICK_STATES))
        .group_by(n.c.incident_id)
        .subquery()
    )
    return (
        select(
            i.c.id,
            i.c.state,
            i.c.silenced_until,
            i.c.parent_incident_id,
            i.c.target_id,
            i.c.escalation_level,
            i.c.last_notified_at,
            i.c.owner_id,
            i.c.dedup_key,
            p.c.state,
            notes.c.first_at,
            notes.c.read,
            notes.c.reminders,
        )
        .select_from(
            i.outerjoin(p, p.c.id == i.c.parent_incident_id).outerjoin(
                notes, notes.c.incident_id == i.c.id
            )
        )
        .where(i.c.state.in_(TICK_STATES))
    )


def open_for_tick(store: Any) -> list[tuple[Any, ...]]:
    """The rows of `_tick_query`, in its column order, as plain tuples."""
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(_tick_query())]


def escalate_and_resend(al: Alerting, now: float) -> None:
    store = al.store
    st = al.engine.settings.alerts
    targets = al.engine.targets
    everyone: list[Any] | None = None  # the contacts, read once a tick and only when needed
    for row in open_for_tick(store):
        iid, state, silenced_until, parent_id, target_id, level, last_notified = row[:7]
        if state == "silenced":
            if silenced_until is not None and silenced_until <= now:
                _set(store, iid, state="firing", silenced_until=None)
                al._audit("incident.unsilence", iid, "engine")
                al._publish(iid, "firing", target_id, "silence ended")
            continue
        owner_id, dedup_key, parent_state, first_at, read, reminders = row[7:]
        if parent_id:
            if parent_state is not None and parent_state != "resolved":
                continue  # held under its parent
            # The parent was resolved by hand (or is gone): its children page on their own now.
            al._release_children(SimpleNamespace(id=parent_id), now)
            continue
        rec = targets.get(target_id or "")
        if rec is not None and al.in_maintenance(rec):
            continue
        if first_at is None:
            continue  # nobody paged at this level yet
        if not read and now - first_at >= st.escalation_after:
            if everyone is None:
                everyone = cstore.load_all(store)
            exclude = al.excluded(SimpleNamespace(dedup_key=dedup_key))
            if al.contacts_for(level + 1, owner_id, exclude=exclude, everyone=everyone):
                _set(store, iid, escalation_level=level + 1)
                inc = _load(store, iid)
                if inc is not None:
                    inc.escalation_level = level + 1
                    al._notify_level(inc, rec, level + 1, "escalation", now)
                al._audit("incident.escalate", iid, "engine")
                continue
        if now - (last_notified or first_at) >= st.resend_interval:
            inc = _load(store, iid)
            if inc is not None:
                al._notify_level(inc, rec, level, "reminder", now, seq=1 + (reminders or 0))


def _load(store: Any, incident_id: str) -> Incident | None:
    with store.session() as s:
        return s.get(Incident, incident_id)


def _set(store: Any, incident_id: str, **values: Any) -> None:
    with store.session() as s:
        row = s.get(Incident, incident_id)
        if row is not None:
            for k, v in values.items():
                setattr(row, k, v)
            s.add(row)
            s.commit()
