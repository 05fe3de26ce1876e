"""The Telegram user session, sealed in the store's meta table (never a `.session` file).

The StringSession is the account's full credential, so it is sealed like every other secret
(associated data meta|value_s|<key>, so key rotation re-seals it). The account's masked display and
user id are sealed beside it so `telegram status` can say who is logged in without a connection.
The plaintext `value` column of the session row holds only a save counter: the engine compares it
to notice a login or logout made by another process without opening the secret. The Telegram
bridge and the session commands both go through here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from engine.store.models import Meta
from engine.store.store import Store

SESSION_KEY = "telegram_session"
ACCOUNT_KEY = "telegram_account"
_T, _C = "meta", "value_s"


@dataclass(frozen=True)
class StoredAccount:
    """Who the stored session belongs to; `display` is already masked (****0100)."""

    user_id: int
    display: str
    saved_at: float


def save(store: Store, session_string: str, user_id: int, display: str) -> None:
    """Seal and store the session and its account, replacing any previous one."""
    if not session_string:
        raise ValueError("refusing to store an empty Telegram session")
    now = time.time()
    account = json.dumps({"user_id": int(user_id), "display": display, "saved_at": now})
    with store.session() as s:
        for key, value in ((SESSION_KEY, session_string), (ACCOUNT_KEY, account)):
            row = s.get(Meta, key) or Meta(key=key)
            row.value = f"{now:.6f}" if key == SESSION_KEY else None
            row.value_s = store.seal(_T, _C, key, value)
            s.add(row)
        s.commit()


def load(store: Store) -> str | None:
    """The session string, or None when nobody is logged in. A secret: never log it."""
    with store.session() as s:
        row = s.get(Meta, SESSION_KEY)
    if row is None or row.value_s is None:
        return None
    return store.open_(_T, _C, SESSION_KEY, row.value_s) or None


def version(store: Store) -> str | None:
    """A cheap marker that changes on every save and erase (no decryption needed)."""
    with store.session() as s:
        row = s.get(Meta, SESSION_KEY)
    return None if row is None or row.value_s is None else (row.value or "")


def account(store: Store) -> StoredAccount | None:
    with store.session() as s:
        row = s.get(Meta, ACCOUNT_KEY)
    if row is None or row.value_s is None:
        return None
    data = json.loads(store.open_(_T, _C, ACCOUNT_KEY, row.value_s) or "{}")
    return StoredAccount(int(data["user_id"]), str(data["display"]), float(data["saved_at"]))


def erase(store: Store) -> bool:
    """Remove the session and its account; True when there was one."""
    with store.session() as s:
        found = False
        for key in (SESSION_KEY, ACCOUNT_KEY):
            row = s.get(Meta, key)
            if row is not None:
                found = found or key == SESSION_KEY
                s.delete(row)
        s.commit()
    return found
