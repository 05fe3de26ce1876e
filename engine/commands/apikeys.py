"""API keys for the TCP listener: shown once at creation, stored only as a SHA-256 hash.

The key itself is a bearer secret, so the store keeps nothing that could be replayed; the label
(often a person's or a machine's name) is sealed like every other name.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from sqlalchemy import select

from engine.commands.base import CommandBase
from engine.core.errors import NotFound
from engine.core.limits import NAME_MAX, check_text
from engine.store.models import ApiKey

KEY_PREFIX = "sak_"
_LABEL_MAX = NAME_MAX


def hash_api_key(key: str) -> str:
    """The stored form of a key; the API server compares these in constant time."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyCommands(CommandBase):
    def add_api_key(self, label: str | None = None, by: str = "operator") -> dict[str, Any]:
        """Create a key; the only time its plaintext exists outside the caller is this return value."""
        label = check_text(label or "", "API key label", _LABEL_MAX, empty_ok=True) or None
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            id=self.store.fresh_id(ApiKey, "k"), key_hash=hash_api_key(key), created_at=time.time()
        )
        row.label_s = self.store.seal("api_keys", "label_s", row.id, label)
        with self.store.session() as s:
            s.add(row)
            s.commit()
        self.audit("apikey.add", f"apikey:{row.id}", by)
        return {"id": row.id, "key": key, "label": label, "created_at": row.created_at}

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Ids, labels and dates; never the hash (it would let an offline guesser test keys)."""
        with self.store.session() as s:
            rows = list(s.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars())  # type: ignore[arg-type]
        return [
            {
                "id": r.id,
                "label": self.store.open_("api_keys", "label_s", r.id, r.label_s),
                "created_at": r.created_at,
            }
            for r in rows
        ]

    def remove_api_key(self, key_id: str, by: str = "operator") -> dict[str, Any]:
        key_id = key_id.strip()
        with self.store.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id!r}", "see `sysalert apikey list` for ids")
            s.delete(row)
            s.commit()
        self.audit("apikey.remove", f"apikey:{key_id}", by)
        return {"removed": key_id}
