"""The durable outbox: a notification is a row before anything is sent.

Rows are claimed with a lease (engine id + expiry), so a crash mid-send leaves a row that another
run picks up after the lease, and several engines on one PostgreSQL never send the same row at once.
The claimer renews the lease on every row it still holds (`renew`), however long its sends take.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import col

from engine.notify.message import OutgoingMessage
from engine.store.models import Notification
from engine.store.store import Store, new_id

N = "notifications"
LEASE_S = 60.0
# Retry delays: full jitter over BASE * 2^(attempt-1), at least FLOOR, at most CAP (seconds).
BACKOFF_BASE_S = 2.0
BACKOFF_FLOOR_S = 0.5
BACKOFF_CAP_S = 900.0


def encode_message(msg: OutgoingMessage) -> str:
    d = asdict(msg)
    d["since"] = msg.since.isoformat()
    return json.dumps(d)


def decode_message(text: str) -> OutgoingMessage:
    d = json.loads(text)
    d["since"] = datetime.fromisoformat(d["since"])
    return OutgoingMessage(**d)


def enqueue(
    store: Store,
    contact_id: str,
    channel: str,
    msg: OutgoingMessage,
    incident_id: str | None,
    now: float | None = None,
) -> str:
    now = now or time.time()
    nid = new_id(length=14)  # internal, made by the million: never typed, so long
    row = Notification(
        id=nid,
        incident_id=incident_id,
        contact_id=contact_id,
        channel=channel,
        kind=msg.kind,
        level=msg.level,
        status="pending",
        next_attempt_at=now,
        created_at=now,
        body_s=store.seal(N, "body_s", nid, encode_message(msg)),
    )
    with store.session() as s:
        s.add(row)
        s.commit()
    return nid


def claim_due(
    store: Store,
    owner: str,
    now: float | None = None,
    limit: int = 50,
    skip_contacts: Collection[str] = (),
    skip_channels: Collection[str] = (),
) -> list[Notification]:
    """Take up to `limit` due rows (pending, or sending with an expired lease) for this engine.
    Rows for `skip_contacts` (contacts this engine is still sending to) stay queued for later."""
    now = now or time.time()
    t = Notification.__table__  # type: ignore[attr-defined]
    due = or_(
        and_(t.c.status == "pending", t.c.next_attempt_at <= now),
        and_(t.c.status == "sending", t.c.lease_until < now),
    )
    pick = and_(due, t.c.contact_id.not_in(list(skip_contacts))) if skip_contacts else due
    if skip_channels:
        pick = and_(pick, t.c.channel.not_in(list(skip_channels)))
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
            .values(status="sending", lease_owner=owner, lease_until=now + LEASE_S)
        )
    with store.session() as s:
        rows = list(
            s.execute(
                select(Notification).where(
                    col(Notification.id).in_(ids), col(Notification.lease_owner) == owner
                )
            ).scalars()
        )
    rows.sort(key=lambda r: r.created_at)
    return rows


def renew(store: Store, owner: str, ids: Collection[str], now: float | None = None) -> set[str]:
    """Extend this engine's lease on rows it still holds; returns those ids. A row missing from
    the answer is no longer this engine's (finished, or taken by another claimer after a lapse)
    and must not be sent from here."""
    if not ids:
        return set()
    now = now or time.time()
    t = Notification.__table__  # type: ignore[attr-defined]
    mine = and_(t.c.id.in_(list(ids)), t.c.lease_owner == owner, t.c.status == "sending")
    with store.engine.begin() as conn:  # no RETURNING: SQLite has it only from 3.35
        conn.execute(update(t).where(mine).values(lease_until=now + LEASE_S))
        return {r[0] for r in conn.execute(select(t.c.id).where(mine))}


def mark_sent(store: Store, nid: str, message_id: str | None, now: float | None = None) -> None:
    with store.session() as s:
        row = s.get(Notification, nid)
        if row is None:
            return
        row.status = "sent"
        row.sent_at = now or time.time()
        row.message_id = message_id
        row.attempts += 1
        row.lease_owner = row.lease_until = None
        row.last_error_s = None
        s.add(row)
        s.commit()


def backoff(
    attempts: int,
    retry_after: float | None = None,
    base: float | None = None,
    cap: float | None = None,
) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins when longer."""
    base = BACKOFF_BASE_S if base is None else base
    cap = BACKOFF_CAP_S if cap is None else cap
    delay = random.uniform(0, min(cap, base * (2 ** max(0, attempts - 1))))
    delay = max(delay, BACKOFF_FLOOR_S)
    return max(delay, retry_after or 0.0)


def mark_failed(
    store: Store,
    nid: str,
    error: str,
    permanent: bool,
    retry_after: float | None,
    max_attempts: int,
    now: float | None = None,
) -> str:
    """Record a failed attempt; returns the new status (pending to retry, dead when given up)."""
    now = now or time.time()
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
            row.next_attempt_at = now + backoff(row.attempts, retry_after)
        s.add(row)
        s.commit()
        return row.status


def release(
    store: Store, nid: str, delay: float, now: float | None = None, owner: str | None = None
) -> None:
    """Put a claimed row back without counting an attempt (rate limit, flood wait of another row).
    With `owner`, only while that claimer still holds it."""
    now = now or time.time()
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


def body(store: Store, row: Notification) -> OutgoingMessage:
    return decode_message(store.open_(N, "body_s", row.id, row.body_s) or "{}")


def cancel_pending(
    store: Store, incident_id: str, kinds: tuple[str, ...] = ("alert", "reminder", "escalation")
) -> int:
    """Ack or resolve stops reminders and escalations that are still queued."""
    t = Notification.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        r = conn.execute(
            update(t)
            .where(t.c.incident_id == incident_id, t.c.status == "pending", t.c.kind.in_(kinds))
            .values(status="cancelled")
        )
    return r.rowcount or 0


def reclaim_orphans(store: Store) -> int:
    """At start, under the single-instance lock: rows a dead engine left mid-send go back to pending
    at once instead of waiting out their lease (idempotent channels drop the duplicate)."""
    t = Notification.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        r = conn.execute(
            update(t)
            .where(t.c.status == "sending")
            .values(status="pending", lease_owner=None, lease_until=None)
        )
    return r.rowcount or 0
