"""Incident rows (and the notification rows read about them): open (deduplicated), acknowledge,
resolve, silence, escalate, hold under a parent and release, the escalation tick's one query, and
the delivery-trouble keys. The only module that writes incident rows: alerting, rules, benchmarks,
escalation and the commands call these with plain arguments. Listing lives in incident_list.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, select
from sqlmodel import col

from engine.core.errors import BadInput, NotFound
from engine.core.incident_states import DELIVERY_PREFIX, OPEN_STATES
from engine.store.models import Incident, Notification, Receipt
from engine.store.store import Store

INC = "incidents"


def find_open(store: Store, dedup_key: str) -> Incident | None:
    with store.session() as s:
        return (
            s.execute(
                select(Incident).where(
                    col(Incident.dedup_key) == dedup_key, col(Incident.state).in_(OPEN_STATES)
                )
            )
            .scalars()
            .first()
        )


def open_incident(
    store: Store,
    dedup_key: str,
    kind: str,
    severity: str,
    summary: str,
    target_id: str | None = None,
    rule_id: str | None = None,
    error_class: str | None = None,
    parent_incident_id: str | None = None,
    owner_id: str | None = None,
    now: float | None = None,
) -> tuple[Incident, bool]:
    """Return (incident, created). An open incident with the same key is returned as is."""
    existing = find_open(store, dedup_key)
    if existing is not None:
        return existing, False
    iid = store.fresh_id(Incident)
    inc = Incident(
        id=iid,
        dedup_key=dedup_key,
        target_id=target_id,
        rule_id=rule_id,
        kind=kind,
        state="firing",
        severity=severity,
        opened_at=now or time.time(),
        error_class=error_class,
        parent_incident_id=parent_incident_id,
        owner_id=owner_id,
        summary_s=store.seal(INC, "summary_s", iid, summary),
    )
    with store.session() as s:
        s.add(inc)
        s.commit()
    return inc, True


def get(store: Store, incident_id: str) -> Incident:
    with store.session() as s:
        inc = s.get(Incident, incident_id.strip())
    if inc is None:
        raise NotFound(f"no incident {incident_id!r}", "see `sysalert incidents list`")
    return inc


def acknowledge(store: Store, incident_id: str, by: str, now: float | None = None) -> Incident:
    with store.session() as s:
        inc = s.get(Incident, incident_id.strip())
        if inc is None:
            raise NotFound(f"no incident {incident_id!r}", "see `sysalert incidents list`")
        if inc.state == "resolved":
            raise BadInput(f"incident {inc.id} is already resolved", "nothing to acknowledge")
        inc.state = "acknowledged"
        inc.acked_at = now or time.time()
        inc.acked_by_s = store.seal(INC, "acked_by_s", inc.id, by)
        s.add(inc)
        s.commit()
        return inc


def resolve(store: Store, incident_id: str, now: float | None = None) -> Incident:
    with store.session() as s:
        inc = s.get(Incident, incident_id.strip())
        if inc is None:
            raise NotFound(f"no incident {incident_id!r}", "see `sysalert incidents list`")
        if inc.state != "resolved":
            inc.state = "resolved"
            inc.resolved_at = now or time.time()
            s.add(inc)
            s.commit()
        return inc


def silence(store: Store, incident_id: str, seconds: float, now: float | None = None) -> Incident:
    if seconds <= 0:
        raise BadInput("silence needs a positive duration", "e.g. --for 2h")
    with store.session() as s:
        inc = s.get(Incident, incident_id.strip())
        if inc is None:
            raise NotFound(f"no incident {incident_id!r}", "see `sysalert incidents list`")
        if inc.state == "resolved":
            raise BadInput(f"incident {inc.id} is already resolved", "nothing to silence")
        inc.state = "silenced"
        inc.silenced_until = (now or time.time()) + seconds
        s.add(inc)
        s.commit()
        return inc


def load(store: Store, incident_id: str) -> Incident | None:
    """The incident, or None when it was removed meanwhile."""
    with store.session() as s:
        return s.get(Incident, incident_id)


def kind_of(store: Store, incident_id: str) -> str | None:
    inc = load(store, incident_id)
    return inc.kind if inc is not None else None


def set_fields(store: Store, incident_id: str, **values: Any) -> None:
    """Change some columns of one incident (escalation level, silence end); gone: nothing."""
    with store.session() as s:
        row = s.get(Incident, incident_id)
        if row is not None:
            for k, v in values.items():
                setattr(row, k, v)
            s.add(row)
            s.commit()


def touch(store: Store, incident_id: str, now: float) -> None:
    """Someone was notified now: the resend interval counts from here."""
    set_fields(store, incident_id, last_notified_at=now)


def held_children(store: Store, parent_id: str) -> list[Incident]:
    """Firing incidents held under a parent incident (their alert waits for its verdict)."""
    with store.session() as s:
        return list(
            s.execute(
                select(Incident).where(
                    col(Incident.parent_incident_id) == parent_id,
                    col(Incident.state) == "firing",
                )
            ).scalars()
        )


def unhold(store: Store, incident_id: str) -> bool:
    """No longer held under a parent; False when the incident is gone (its target deleted)."""
    with store.session() as s:
        row = s.get(Incident, incident_id)
        if row is None:
            return False
        row.parent_incident_id = None
        s.add(row)
        s.commit()
    return True


def notified_contact_ids(store: Store, incident_id: str) -> set[str]:
    """Contacts sent anything but a resolved notice about the incident."""
    with store.session() as s:
        return set(
            s.execute(
                select(col(Notification.contact_id)).where(
                    col(Notification.incident_id) == incident_id,
                    col(Notification.kind) != "resolved",
                )
            ).scalars()
        )


def open_keys(store: Store, prefix: str) -> set[str]:
    """Dedup keys starting with `prefix` of the incidents open now."""
    with store.session() as s:
        return set(
            s.execute(
                select(col(Incident.dedup_key)).where(
                    col(Incident.dedup_key).startswith(prefix),
                    col(Incident.state).in_(OPEN_STATES),
                )
            ).scalars()
        )


def erase_delivery(s: Any, contact_id: str) -> None:
    """A removed contact's delivery incidents go with it, quietly: their text names the person
    (part of the contact's erase, in its session and transaction)."""
    ids = list(
        s.execute(
            select(col(Incident.id)).where(col(Incident.dedup_key) == DELIVERY_PREFIX + contact_id)
        ).scalars()
    )
    if not ids:
        return
    notes = list(
        s.execute(
            select(col(Notification.id)).where(col(Notification.incident_id).in_(ids))
        ).scalars()
    )
    if notes:
        s.execute(delete(Receipt).where(Receipt.notification_id.in_(notes)))  # type: ignore[attr-defined]
        s.execute(delete(Notification).where(Notification.id.in_(notes)))  # type: ignore[attr-defined]
    s.execute(delete(Incident).where(Incident.id.in_(ids)))  # type: ignore[attr-defined]


# ---- the escalation tick: every firing or silenced incident in one query ------------------------
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


def open_for_tick(store: Store) -> list[tuple[Any, ...]]:
    """The rows of `_tick_query`, in its column order, as plain tuples."""
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(_tick_query())]
