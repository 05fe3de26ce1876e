"""The store side of the Telegram bridge: which contacts a chat belongs to, which notifications a
read receipt covers, which alert a reply answers. Plain synchronous functions: the bridge runs them
in worker threads so the event loop never waits on the database.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import col

from engine.core.domain import ContactRecord
from engine.store import contacts as cstore
from engine.store.models import Notification, Receipt
from engine.store.store import Store, new_id

_NUMERIC = re.compile(r"^-?\d{1,20}$")
_RESOLVED = re.compile(r"^(user|channel):(\d{1,20}):(-?\d{1,20})$|^chat:(\d{1,20})$")
# Alerts a later notice refers back to (a resolved notice edits the first of them).
ALERT_KINDS = ("alert", "escalation", "flapping", "reminder")
PENDING_WINDOW_S = 7 * 86400.0


def chat_id_for(contact: ContactRecord) -> int | None:
    """The contact's marked chat id (user id, -chat id, -100… channel id), when it is known
    without asking Telegram: from the sealed resolved peer, or a numeric address."""
    ref = (contact.resolved or contact.address or "").strip()
    m = _RESOLVED.match(ref)
    if m:
        kind, pid, _hash, chat = m.groups()
        if chat is not None:
            return -int(chat)
        return int(pid) if kind == "user" else -(10**12) - int(pid)
    if _NUMERIC.match(ref):
        return int(ref)
    return None


def telegram_contacts(store: Store) -> list[ContactRecord]:
    return [c for c in cstore.load_all(store) if c.channel == "telegram"]


def contacts_in_chat(store: Store, chat_id: int) -> list[ContactRecord]:
    return [c for c in telegram_contacts(store) if chat_id_for(c) == chat_id]


def unresolved(store: Store) -> list[ContactRecord]:
    """Contacts known only by @username or +phone: their chat id needs one lookup."""
    return [c for c in telegram_contacts(store) if chat_id_for(c) is None]


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
    after a reconnect, or a push and the dispatcher's `_after_sent`, each in its own thread): a
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
    peers = {c.resolved for c in telegram_contacts(store) if c.id in ids and c.resolved}
    return sorted(p for p in peers if p)


def alert_by_message(
    store: Store, contacts: list[ContactRecord], message_id: int
) -> Notification | None:
    """The notification (with an incident) that was message `message_id` in these contacts' chat."""
    ids = [c.id for c in contacts]
    if not ids:
        return None
    with store.session() as s:
        return (
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
