"""Who hears of an incident, and what they get: contacts by level and owner, the message, and
one queued outbox row per contact. Escalation, rules and benchmarks page through `notify_level`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.core.incident_states import DELIVERY_PREFIX
from engine.notify import outbox
from engine.notify.message import Kind, OutgoingMessage
from engine.store import contacts as cstore
from engine.store import incidents as inc_store

if TYPE_CHECKING:
    from engine.core.domain import TargetRecord
    from engine.store.store import Store


def excluded(dedup_key: str | None) -> frozenset[str]:
    """Contacts an incident (by its dedup key) never goes to: the one a delivery incident is
    about (its alert, reminders and escalations alike)."""
    key = dedup_key or ""
    return (
        frozenset({key[len(DELIVERY_PREFIX) :]}) if key.startswith(DELIVERY_PREFIX) else frozenset()
    )


def contacts_for(
    store: Store,
    level: int,
    owner_id: str | None,
    names: list[str] | None = None,
    exclude: frozenset[str] = frozenset(),
    everyone: list[Any] | None = None,
) -> list[Any]:
    out = []
    for c in everyone if everyone is not None else cstore.load_all(store):
        if c.status != "ok" or c.owner_id != owner_id or c.id in exclude:
            continue
        if names:
            if c.name not in names:
                continue
        elif level and c.level != level:
            continue
        out.append(c)
    return out


def message(
    store: Store, inc: Any, rec: TargetRecord | None, kind: Kind, level: int
) -> OutgoingMessage:
    summary = store.open_("incidents", "summary_s", inc.id, inc.summary_s) or ""
    state = "resolved" if kind == "resolved" else (rec.state if rec else inc.state)
    return OutgoingMessage(
        kind=kind,
        incident_id=inc.id,
        severity=inc.severity,
        target_name=rec.name if rec else summary[:40],
        target_ref=store.ref("target", rec.id) if rec else "",
        state=state,
        since=datetime.fromtimestamp(inc.opened_at, UTC),
        error_class=inc.error_class,
        summary=summary,
        level=max(1, level),
        ack_hint=f"reply ack or /ack {inc.id}",
    )


def notify_level(
    store: Store,
    channels_for: Callable[[Any], list[str] | None],
    inc: Any,
    rec: TargetRecord | None,
    level: int,
    kind: Kind,
    now: float,
    names: list[str] | None = None,
    seq: int | None = None,
) -> int:
    """Queue one notification per contact of `level` (0 = everyone already notified).

    A rule's named contacts (`channels_for`) stand for level 1 only; escalation goes to the next
    level's. `seq` numbers reminders so each has its own idempotency key."""
    exclude = excluded(inc.dedup_key)
    if level == 0:
        ids = inc_store.notified_contact_ids(store, inc.id)
        contacts = [
            c
            for c in cstore.load_all(store)
            if c.id in ids and c.status == "ok" and c.id not in exclude
        ]
    else:
        named = names or (channels_for(inc) if level == 1 else None)
        everyone = cstore.load_all(store)
        contacts = contacts_for(store, level, inc.owner_id, named, exclude, everyone)
        if not contacts and not named and kind == "alert":
            # Nobody usable at this level (all blocked, or none set): the next level that has
            # someone gets the alert, rather than nobody; escalation continues from there.
            for up in range(level + 1, 10):
                contacts = contacts_for(store, up, inc.owner_id, None, exclude, everyone)
                if contacts:
                    level = up
                    inc_store.set_fields(store, inc.id, escalation_level=up)
                    inc.escalation_level = up
                    break
    msg = message(store, inc, rec, kind, level)
    if seq is not None:
        msg.extra["seq"] = seq
    for c in contacts:
        outbox.enqueue(store, c.id, c.channel, msg, inc.id, now)
    if contacts and kind != "resolved":
        inc_store.touch(store, inc.id, now)
    return len(contacts)
