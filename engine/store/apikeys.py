"""API keys: the SHA-256 hash of each key (never the key) and its sealed label."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from engine.store.models import ApiKey
from engine.store.store import Store


@dataclass
class ApiKeyRecord:
    id: str
    label: str | None
    created_at: float


def insert(store: Store, key_hash: str, label: str | None) -> ApiKeyRecord:
    row = ApiKey(id=store.fresh_id(ApiKey, "k"), key_hash=key_hash, created_at=time.time())
    row.label_s = store.seal("api_keys", "label_s", row.id, label)
    with store.session() as s:
        s.add(row)
        s.commit()
    return ApiKeyRecord(row.id, label, row.created_at)


def load_all(store: Store) -> list[ApiKeyRecord]:
    """Oldest first; the hash stays in the store (it would let an offline guesser test keys)."""
    with store.session() as s:
        rows = list(s.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars())  # type: ignore[arg-type]
    return [
        ApiKeyRecord(r.id, store.open_("api_keys", "label_s", r.id, r.label_s), r.created_at)
        for r in rows
    ]


def delete(store: Store, key_id: str) -> bool:
    """Remove a key; False when there is none of that id."""
    with store.session() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            return False
        s.delete(row)
        s.commit()
    return True
