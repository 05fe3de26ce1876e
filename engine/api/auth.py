"""API keys on the TCP listener: a route middleware that lets a caller with a key through and
records who it is (`request.state.caller`, for the audit log); anyone else gets a 401 before the
route reads anything. The Unix socket's app has no such middleware: its 0600 mode is the check.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.errors import Unauthorized
from engine.api.ports import HealthSource
from engine.store.key_auth import StoredKey, key_label, stored_keys


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Keys from config plus `api_keys` rows; compared as SHA-256 hashes in constant time."""

    def __init__(self, engine: HealthSource) -> None:
        self.engine = engine

    def caller(self, presented: str | None) -> str | None:
        """Call from a worker thread: it reads the key table (a removed key stops working at
        once). Who holds the key, for the audit log: `api:LABEL` (`api:ID` for a key without a
        label, `api:config` for one from [api] api_keys); None for a missing or wrong key."""
        if not presented:
            return None
        h = hash_key(presented)
        # From the current settings, so keys added or removed in config apply after a SIGHUP.
        known: list[tuple[str, StoredKey | None]] = [
            (hash_key(k.get_secret_value()), None) for k in self.engine.settings.api.api_keys
        ]
        known += [(k.key_hash, k) for k in stored_keys(self.engine.store)]
        found: tuple[str, StoredKey | None] | None = None
        for key_hash, row in known:  # every comparison runs: constant time over the table
            if hmac.compare_digest(h, key_hash) and found is None:
                found = (key_hash, row)
        if found is None:
            return None
        row = found[1]
        if row is None:
            return "api:config"
        return f"api:{key_label(self.engine.store, row) or row.id}"


def presented_key(headers: Any) -> str | None:
    key: str | None = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key


class RequireKey:
    """Route middleware (after routing, so an unknown path stays 404 and a wrong method 405)."""

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        presented = presented_key(Headers(scope=scope))
        caller = await anyio.to_thread.run_sync(self.keys.caller, presented) if presented else None
        if caller is None:
            raise Unauthorized
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
