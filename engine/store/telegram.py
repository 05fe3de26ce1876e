"""Telegram's rows in the store: which sent notification a read receipt covers, who read it, which
alert a reply answers, and which chats may hold unread alerts. The bridge runs these plain
synchronous functions in worker threads so the event loop never waits on the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import col

from engine.core.domain import ContactRecord
from engine.store import contacts as cstore
from engine.store.models import Notification, Receipt
from engine.store.outbox import OutboxRow, row_of
from engine.store.store import Store, new_id

# Alerts a later notice refers back to (a resolved notice edits the first of them).
ALERT_KINDS = ("alert", "escalation", "flapping", "reminder")
PENDING_WINDOW_S = 7 * 86400.0


@dataclass(frozen=True)
class ReadMark:
    notification_id: str
    incident_id: str | None
    contact_id: str
    message_id: int


def mark_read(
    store: Store, contacts: list[ContactRecord], max_id: int, at: float
) -> list[ReadMark]:
    """Everything we sent these contacts up to `max_id` and not yet read is read now.

    Idempotent, also when two receipts for one chat are applied at once (a push and the poll
    after a reconnect, or a push and the dispatcher's `after_sent`, each in its own thread): a
    row is marked by a conditional UPDATE, and only the marker that changed it writes the
    Receipt row. Each newly read notification gets one Receipt whose reader (the contact's name)
    is sealed.
    """
    names = {c.id: c.name for c in contacts}
    if not names:
        return []
    marks: list[ReadMark] = []
    t = Notification.__table__  # type: ignore[attr-defined]
    with store.session() as s:
        rows = s.execute(
            select(
                col(Notification.id),
                col(Notification.incident_id),
                col(Notification.contact_id),
                col(Notification.message_id),
            )
            .where(
                Notification.contact_id.in_(list(names)),  # type: ignore[attr-defined]
                col(Notification.channel) == "telegram",
                Notification.read_at.is_(None),  # type: ignore[union-attr]
                Notification.message_id.is_not(None),  # type: ignore[union-attr]
            )
            # One order for every marker: two transactions locking rows in opposite orders
            # would deadlock on PostgreSQL.
            .order_by(Notification.id)
        ).all()
        for nid, incident_id, contact_id, message_id in rows:
            mid = _int(message_id)
            if mid is None or mid > max_id:
                continue
            changed = (
                s.connection()
                .execute(update(t).where(t.c.id == nid, t.c.read_at.is_(None)).values(read_at=at))
                .rowcount
            )
            if changed != 1:
                continue  # another receipt marked it between our read and this write
            rid = new_id(length=14)
            reader = store.seal("receipts", "reader_s", rid, names[contact_id])
            s.add(Receipt(id=rid, notification_id=nid, reader_s=reader, read_at=at))
            marks.append(ReadMark(nid, incident_id, contact_id, mid))
        s.commit()
    return marks


def add_reader(store: Store, notification_id: str, reader: str, at: float) -> None:
    """One more named reader of a group message (read participants)."""
    rid = new_id(length=14)
    with store.session() as s:
        s.add(
            Receipt(
                id=rid,
                notification_id=notification_id,
                reader_s=store.seal("receipts", "reader_s", rid, reader),
                read_at=at,
            )
        )
        s.commit()


def pending_peers(store: Store, now: float | None = None) -> list[str]:
    """Resolved peers of chats holding sent-but-unread alerts from the last week: the chats whose
    read state is polled after a reconnect, in case an outbox-read push was missed."""
    since = (now or time.time()) - PENDING_WINDOW_S
    with store.session() as s:
        ids = set(
            s.execute(
                select(col(Notification.contact_id)).where(
                    col(Notification.channel) == "telegram",
                    col(Notification.read_at).is_(None),
                    col(Notification.message_id).is_not(None),
                    col(Notification.sent_at) >= since,
                )
            ).scalars()
        )
    if not ids:
        return []
    peers = {
        c.resolved
        for c in cstore.load_all(store)
        if c.channel == "telegram" and c.id in ids and c.resolved
    }
    return sorted(p for p in peers if p)


def alert_by_message(
    store: Store, contacts: list[ContactRecord], message_id: int
) -> OutboxRow | None:
    """The notification (with an incident) that was message `message_id` in these contacts' chat."""
    ids = [c.id for c in contacts]
    if not ids:
        return None
    with store.session() as s:
        found = (
            s.execute(
                select(Notification)
                .where(
                    Notification.contact_id.in_(ids),  # type: ignore[attr-defined]
                    col(Notification.channel) == "telegram",
                    col(Notification.message_id) == str(message_id),
                    Notification.incident_id.is_not(None),  # type: ignore[union-attr]
                )
                .order_by(Notification.created_at)  # type: ignore[arg-type]
            )
            .scalars()
            .first()
        )
        return None if found is None else row_of(found)


def original_alert(store: Store, incident_id: str, contact_id: str) -> int | None:
    """The Telegram message id of the first alert this contact got for the incident."""
    with store.session() as s:
        rows = s.execute(
            select(Notification)
            .where(
                col(Notification.incident_id) == incident_id,
                col(Notification.contact_id) == contact_id,
                Notification.kind.in_(ALERT_KINDS),  # type: ignore[attr-defined]
                Notification.message_id.is_not(None),  # type: ignore[union-attr]
            )
            .order_by(Notification.created_at)  # type: ignore[arg-type]
        ).scalars()
        for n in rows:
            mid = _int(n.message_id)
            if mid is not None:
                return mid
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
