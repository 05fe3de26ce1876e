"""Which contacts a Telegram chat belongs to, from their addresses and sealed resolved peers.

The lookups read the contacts from the store: the bridge runs them in worker threads so the event
loop never waits on the database. Receipts and sent messages are engine/store/telegram.py.
"""

from __future__ import annotations

import re

from engine.core.domain import ContactRecord
from engine.store import contacts as cstore
from engine.store.store import Store

_NUMERIC = re.compile(r"^-?\d{1,20}$")
_RESOLVED = re.compile(r"^(user|channel):(\d{1,20}):(-?\d{1,20})$|^chat:(\d{1,20})$")


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
