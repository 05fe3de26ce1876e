"""API keys for the TCP listener: shown once at creation, stored only as a SHA-256 hash.

The key itself is a bearer secret, so the store keeps nothing that could be replayed; the label
(often a person's or a machine's name) is sealed like every other name.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from engine.commands.base import CommandBase
from engine.core.errors import NotFound
from engine.core.limits import NAME_MAX, check_text
from engine.store import apikeys as keystore

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
        rec = keystore.insert(self.store, hash_api_key(key), label)
        self.audit("apikey.add", f"apikey:{rec.id}", by)
        return {"id": rec.id, "key": key, "label": label, "created_at": rec.created_at}

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Ids, labels and dates; never the hash (it would let an offline guesser test keys)."""
        return [
            {"id": r.id, "label": r.label, "created_at": r.created_at}
            for r in keystore.load_all(self.store)
        ]

    def remove_api_key(self, key_id: str, by: str = "operator") -> dict[str, Any]:
        key_id = key_id.strip()
        if not keystore.delete(self.store, key_id):
            raise NotFound(f"no API key {key_id!r}", "see `sysalert apikey list` for ids")
        self.audit("apikey.remove", f"apikey:{key_id}", by)
        return {"removed": key_id}
