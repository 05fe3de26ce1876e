"""The stored API keys as the API checks a presented key against them: hash and sealed label.

Read per request on purpose: a key removed with `sysalert apikey remove` stops working at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from engine.store.models import ApiKey
from engine.store.store import Store


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: str
    key_hash: str
    label_s: bytes | None  # sealed; open only the one that matched (store.open_)


def stored_keys(store: Store) -> list[StoredKey]:
    with store.session() as s:
        return [StoredKey(r.id, r.key_hash, r.label_s) for r in s.execute(select(ApiKey)).scalars()]


def key_label(store: Store, key: StoredKey) -> str | None:
    return store.open_("api_keys", "label_s", key.id, key.label_s)
