"""Who is talking in a Telegram chat, and as whom they act.

- `admin`: a Telegram user id listed in `[telegram] admins` (in a private chat), or a subscriber
  added with `--admin`. An admin with a Subscriber row acts as that subscriber (their own targets,
  their quota); a config admin without one acts as the local operator, who sees everything.
- `subscriber`: a chat with a Subscriber row. They act with owner_id = that row's id everywhere, so
  they see and change only what they own.
- `contact`: one of the operator's Telegram contacts (the on-call people of DESIGN section 5).
- anyone else is a stranger: nothing they send changes anything; only `/start` gets an answer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.core.domain import ContactRecord
from engine.security.privacy import mask_id
from engine.store import subscribers as sstore
from engine.store.store import Store
from engine.telegram import chats
from engine.telegram.chat_commands import RateLimiter


@dataclass(frozen=True)
class Caller:
    """The sender's role and scope. `chat_contacts` are every contact entry of this chat (the
    alert a reply answers is looked up among them); `contact` is the one they act as, if any."""

    role: str
    owner_id: str | None
    private: bool
    chat_id: int
    contact: ContactRecord | None
    chat_contacts: list[ContactRecord] = field(default_factory=list)
    subscriber: sstore.SubscriberRecord | None = None
    config_admin: bool = False

    @property
    def actor(self) -> str:
        """Who the audit log names: never a chat id."""
        if self.subscriber is not None:
            return f"subscriber:{self.subscriber.id}"
        if self.contact is not None:
            return self.contact.name
        return "telegram:admin"

    @property
    def masked(self) -> str:
        return mask_id(self.chat_id)


def _best(contacts: list[ContactRecord]) -> ContactRecord | None:
    ok = [c for c in contacts if c.status == "ok"] or contacts
    return ok[0] if ok else None


def match(
    store: Store, admins: Iterable[int], sender_id: int | None, chat_id: int, private: bool
) -> Caller | None:
    """The caller for a message (worker thread: it reads the store); None for a stranger."""
    if private and sender_id != chat_id:
        return None
    in_chat = chats.contacts_in_chat(store, chat_id)
    sub = sstore.find(store, chat_id)
    config_admin = private and sender_id is not None and sender_id in set(admins)
    if sub is not None:
        own = [c for c in in_chat if c.owner_id == sub.id]
        role = "admin" if sub.role == "admin" or config_admin else "subscriber"
        return Caller(role, sub.id, private, chat_id, _best(own), in_chat, sub, config_admin)
    if config_admin:
        ops = [c for c in in_chat if c.owner_id is None]
        return Caller("admin", None, private, chat_id, _best(ops), in_chat, None, True)
    contact = _best(in_chat)
    if contact is None:
        return None
    return Caller("contact", contact.owner_id, private, chat_id, contact, in_chat)


def admin_chats(store: Store, admins: Iterable[int]) -> list[int]:
    """Where admin notices go: the config's admin ids and every admin subscriber's chat."""
    out = list(dict.fromkeys(int(a) for a in admins))
    for sub in sstore.load_all(store):
        if sub.role == "admin" and sub.chat_id not in out:
            out.append(sub.chat_id)
    return out


class AccessRequests:
    """Strangers asking for access: the admins hear of each one once (per engine run), and of at
    most `per_hour` strangers an hour overall, so a flood of strangers cannot flood the admins.
    Only chat ids are remembered, in memory, never in the store or the logs."""

    def __init__(
        self,
        per_hour: int = 20,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._limit = RateLimiter(per_hour / 3600.0, per_hour, clock)
        self._max_keys = max_keys

    def should_notify(self, chat_id: int) -> bool:
        """True the first time a stranger asks (and the hourly budget allows it)."""
        if chat_id in self._seen:
            return False
        if not self._limit.allow("notices"):
            return False  # not remembered: a later /start may still reach the admins
        self._seen[chat_id] = None
        while len(self._seen) > self._max_keys:
            self._seen.popitem(last=False)
        return True

    def told(self, chat_id: int) -> bool:
        return chat_id in self._seen

    def forget(self, chat_id: int) -> None:
        """They became a subscriber (or were removed): a later request is news again."""
        self._seen.pop(chat_id, None)
