"""The outbox table: notification rows, their leases, attempts and states.

Only the SQL lives here; what a row says (the message) and how long to wait between attempts are
the notify package's (engine/notify/outbox.py), passed in as plain values and a function. Rows are
claimed with a lease (owner + expiry) and, on PostgreSQL, `FOR UPDATE SKIP LOCKED`, so several
engines on one store never take the same row at once. Plain synchronous functions: callers run
them in worker threads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import col

from engine.store.models import Notification
from engine.store.store import Store, new_id

N = "notifications"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One notification as a sender needs it; `body_s` is still sealed (see `open_body`)."""

    id: str
    incident_id: str | None
    contact_id: str
    channel: str
    kind: str
    level: int
    created_at: float
    message_id: str | None
    body_s: bytes | None


class SealedBody(Protocol):
    """Anything holding a notification's id and sealed body (an OutboxRow, a model row)."""

    @property
    def id(self) -> str: ...
    @property
    def body_s(self) -> bytes | None: ...


def row_of(n: Notification) -> OutboxRow:
    return OutboxRow(
        n.id,
        n.incident_id,
        n.contact_id,
        n.channel,
        n.kind,
        n.level,
        n.created_at,
        n.message_id,
        n.body_s,
    )


def insert(
    store: Store,
    contact_id: str,
    channel: str,
    kind: str,
    level: int,
    body: str,
    incident_id: str | None,
    now: float,
) -> str:
    """A pending row due at `now`, its body sealed; its new id."""
    nid = new_id(length=14)  # internal, made by the million: never typed, so long
    row = Notification(
        id=nid,
        incident_id=incident_id,
        contact_id=contact_id,
        channel=channel,
        kind=kind,
        level=level,
        status="pending",
        next_attempt_at=now,
        created_at=now,
        body_s=store.seal(N, "body_s", nid, body),
    )
    with store.session() as s:
        s.add(row)
        s.commit()
    return nid


def open_body(store: Store, row: SealedBody) -> str:
    return store.open_(N, "body_s", row.id, row.body_s) or "{}"


def claim_due(
    store: Store,
    owner: str,
    now: float,
    limit: int,
    lease_s: float,
    skip_contacts: Collection[str] = (),
) -> list[OutboxRow]:
    """Take up to `limit` due rows (pending, or sending with an expired lease) for `owner`, oldest
    first. Rows for `skip_contacts` stay queued for later."""
    t = Notification.__table__  # type: ignore[attr-defined]
    due = or_(
        and_(t.c.status == "pending", t.c.next_attempt_at <= now),
        and_(t.c.status == "sending", t.c.lease_until < now),
    )
    pick = and_(due, t.c.contact_id.not_in(list(skip_contacts))) if skip_contacts else due
    with store.engine.begin() as conn:
        q = select(t.c.id).where(pick).order_by(t.c.created_at).limit(limit)
        if not store.sqlite:
            q = q.with_for_update(skip_locked=True)
        ids = [r[0] for r in conn.execute(q)]
        if not ids:
            return []
        conn.execute(
            update(t)
            .where(t.c.id.in_(ids), due)
            .values(status="sending", lease_owner=owner, lease_until=now + lease_s)
        )
    with store.session() as s:
        rows = [
            row_of(n)
            for n in s.execute(
                select(Notification).where(
                    col(Notification.id).in_(ids), col(Notification.lease_owner) == owner
                )
            ).scalars()
        ]
    rows.sort(key=lambda r: r.created_at)
    return rows


def renew(store: Store, owner: str, ids: Collection[str], now: float, lease_s: float) -> set[str]:
    """Extend `owner`'s lease on rows it still holds; returns those ids."""
    if not ids:
        return set()
    t = Notification.__table__  # type: ignore[attr-defined]
    mine = and_(t.c.id.in_(list(ids)), t.c.lease_owner == owner, t.c.status == "sending")
    with store.engine.begin() as conn:  # no RETURNING: SQLite has it only from 3.35
        conn.execute(update(t).where(mine).values(lease_until=now + lease_s))
        return {r[0] for r in conn.execute(select(t.c.id).where(mine))}


def mark_sent(store: Store, nid: str, message_id: str | None, now: float) -> None:
    with store.session() as s:
        row = s.get(Notification, nid)
        if row is None:
            return
        row.status = "sent"
        row.sent_at = now
        row.message_id = message_id
        row.attempts += 1
        row.lease_owner = row.lease_until = None
        row.last_error_s = None
        s.add(row)
        s.commit()


def mark_failed(
    store: Store,
    nid: str,
    error: str,
    permanent: bool,
    max_attempts: int,
    retry_in: Callable[[int], float],
    now: float,
) -> str:
    """Record a failed attempt; the new status: pending again after `retry_in(attempts)` seconds,
    dead when permanent or out of attempts, gone when the row is."""
    with store.session() as s:
        row = s.get(Notification, nid)
        if row is None:
            return "gone"
        row.attempts += 1
        row.last_error_s = store.seal(N, "last_error_s", nid, error)
        row.lease_owner = row.lease_until = None
        if permanent or row.attempts >= max_attempts:
            row.status = "dead"
        else:
            row.status = "pending"
            row.next_attempt_at = now + retry_in(row.attempts)
        s.add(row)
        s.commit()
        return row.status


def release(store: Store, nid: str, delay: float, now: float, owner: str | None = None) -> None:
    """Put a claimed row back without counting an attempt; with `owner`, only while that claimer
    still holds it."""
    with store.session() as s:
        row = s.get(Notification, nid)
        if (
            row is not None
            and row.status == "sending"
            and (owner is None or row.lease_owner == owner)
        ):
            row.status = "pending"
            row.next_attempt_at = now + delay
            row.lease_owner = row.lease_until = None
            s.add(row)
            s.commit()


def depth(store: Store) -> dict[str, int]:
    with store.session() as s:
        rows = s.execute(
            select(col(Notification.status), func.count()).group_by(col(Notification.status))
        ).all()
    return {st: int(n) for st, n in rows}


def cancel_pending(store: Store, incident_id: str, kinds: Collection[str]) -> int:
    """Queued rows of these kinds for the incident are cancelled; how many."""
    t = Notification.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        r = conn.execute(
            update(t)
            .where(
                t.c.incident_id == incident_id, t.c.status == "pending", t.c.kind.in_(list(kinds))
            )
            .values(status="cancelled")
        )
    return r.rowcount or 0


def reclaim_orphans(store: Store) -> int:
    """Every row left mid-send goes back to pending at once (only under the single-instance
    lock: no other engine can be sending)."""
    t = Notification.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        r = conn.execute(
            update(t)
            .where(t.c.status == "sending")
            .values(status="pending", lease_owner=None, lease_until=None)
        )
    return r.rowcount or 0
