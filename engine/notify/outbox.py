"""The durable outbox: a notification is a row before anything is sent.

Rows are claimed with a lease (engine id + expiry), so a crash mid-send leaves a row that another
run picks up after the lease, and several engines on one PostgreSQL never send the same row at once.
The claimer renews the lease on every row it still holds (`renew`), however long its sends take.
This module owns what a row says and the delivery policy (lease length, backoff); the table itself
is engine/store/outbox.py.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime
from functools import partial

from engine.notify.message import OutgoingMessage
from engine.store import outbox as table
from engine.store.outbox import OutboxRow, SealedBody
from engine.store.store import Store

N = table.N  # the table name sealed bodies are bound to
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
    body_text = encode_message(msg)
    return table.insert(
        store, contact_id, channel, msg.kind, msg.level, body_text, incident_id, now or time.time()
    )


def claim_due(
    store: Store,
    owner: str,
    now: float | None = None,
    limit: int = 50,
    skip_contacts: Collection[str] = (),
) -> list[OutboxRow]:
    """Take up to `limit` due rows (pending, or sending with an expired lease) for this engine.
    Rows for `skip_contacts` (contacts this engine is still sending to) stay queued for later."""
    return table.claim_due(store, owner, now or time.time(), limit, LEASE_S, skip_contacts)


def renew(store: Store, owner: str, ids: Collection[str], now: float | None = None) -> set[str]:
    """Extend this engine's lease on rows it still holds; returns those ids. A row missing from
    the answer is no longer this engine's (finished, or taken by another claimer after a lapse)
    and must not be sent from here."""
    if not ids:
        return set()
    return table.renew(store, owner, ids, now or time.time(), LEASE_S)


def mark_sent(store: Store, nid: str, message_id: str | None, now: float | None = None) -> None:
    table.mark_sent(store, nid, message_id, now or time.time())


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
    retry_in = partial(backoff, retry_after=retry_after)
    return table.mark_failed(
        store, nid, error, permanent, max_attempts, retry_in, now or time.time()
    )


def release(
    store: Store, nid: str, delay: float, now: float | None = None, owner: str | None = None
) -> None:
    """Put a claimed row back without counting an attempt (rate limit, flood wait of another row).
    With `owner`, only while that claimer still holds it."""
    table.release(store, nid, delay, now or time.time(), owner)


def depth(store: Store) -> dict[str, int]:
    return table.depth(store)


def body(store: Store, row: SealedBody) -> OutgoingMessage:
    return decode_message(table.open_body(store, row))


def cancel_pending(
    store: Store, incident_id: str, kinds: tuple[str, ...] = ("alert", "reminder", "escalation")
) -> int:
    """Ack or resolve stops reminders and escalations that are still queued."""
    return table.cancel_pending(store, incident_id, kinds)


def reclaim_orphans(store: Store) -> int:
    """At start, under the single-instance lock: rows a dead engine left mid-send go back to pending
    at once instead of waiting out their lease (idempotent channels drop the duplicate)."""
    return table.reclaim_orphans(store)
