"""The Store: one SQLAlchemy engine plus the key ring, with sealing helpers bound to table/column/row."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from engine.crypto import KeyRing, load_key_ring
from engine.errors import SysAlertError
from engine.store.db import describe_error, is_sqlite, open_db
from engine.store.migrations import migrate

_ID_ALPHABET = (
    "abcdefghjkmnpqrstuvwxyz"  # letters only: easy to type in `/ack <id>`, never a number
)


def new_id(prefix: str = "", length: int = 8) -> str:
    """Short random ids: known before insert (for associated data), not personal.

    8 letters (~36 bits) for what people type (`/ack <id>`, `sysalert target show <id>`): those
    inserts go through `Store.fresh_id`, because 100,000 of them would collide by chance about
    once in sixteen tries. Internal rows made by the million (notifications, receipts) take 14.
    """
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class Store:
    """Everything persistent goes through here; sealed columns are sealed and opened in one place."""

    def __init__(self, engine: Engine, keys: KeyRing, url: str) -> None:
        self.engine = engine
        self.keys = keys
        self.url = url
        # kind -> (ref -> id, ids seen): see refs_of. Cleared when the key ring changes.
        self._refs: dict[str, tuple[dict[str, str], set[str]]] = {}
        self._refs_lock = threading.Lock()

    def fresh_id(self, model: Any, prefix: str = "") -> str:
        """A new short id that `model`'s table does not hold yet (one primary-key lookup)."""
        with self.session() as s:
            while True:
                candidate = new_id(prefix)
                if s.get(model, candidate) is None:
                    return candidate

    @classmethod
    def open(cls, url: str, keys: KeyRing, create: bool = True) -> Store:
        engine = open_db(url)
        if create:
            try:
                migrate(engine, keys)
            except SQLAlchemyError as exc:  # the driver's text names the host: say the class only
                engine.dispose()
                raise SysAlertError(
                    f"the store cannot be opened: {describe_error(exc)}",
                    "check database_url and that the database server runs",
                ) from None
        return cls(engine, keys, url)

    @classmethod
    def open_data_dir(cls, url: str, data_dir: Path) -> Store:
        return cls.open(url, load_key_ring(data_dir))

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    # ---- sealing -------------------------------------------------------------------------
    @overload
    def seal(self, table: str, column: str, row: str, value: str) -> bytes: ...
    @overload
    def seal(self, table: str, column: str, row: str, value: None) -> None: ...
    @overload
    def seal(self, table: str, column: str, row: str, value: str | None) -> bytes | None: ...
    def seal(self, table: str, column: str, row: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self.keys.seal(value, table, column, row)

    def open_(self, table: str, column: str, row: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return self.keys.open(bytes(blob), table, column, row)

    def seal_json(self, table: str, column: str, row: str, value: Any) -> bytes | None:
        if value is None or value == [] or value == {}:
            return None
        return self.seal(table, column, row, json.dumps(value, sort_keys=True))

    def open_json(self, table: str, column: str, row: str, blob: bytes | None, default: Any) -> Any:
        text = self.open_(table, column, row, blob)
        return default if text is None else json.loads(text)

    def fp(self, purpose: str, value: str) -> str:
        return self.keys.fingerprint(value, purpose)

    def fps(self, purpose: str, value: str) -> list[str]:
        """Fingerprints under every key: matches rows written before a rotation finished."""
        return self.keys.fingerprints(value, purpose)

    def ref(self, kind: str, value: str) -> str:
        return self.keys.short_ref(kind, value)

    def refs_of(self, kind: str, ids: Iterable[str]) -> dict[str, str]:
        """ref -> id for every id given (audit rows name objects by ref). A ref is an HMAC, about
        2 µs each: computed once per id and key ring, so a history page at 100,000 targets costs
        one pass over the ids, not 100,000 HMACs."""
        with self._refs_lock:
            by_ref, seen = self._refs.setdefault(kind, ({}, set()))
            for i in ids:
                if i not in seen:
                    seen.add(i)
                    by_ref[self.ref(kind, i)] = i
            return by_ref

    def reload_keys(self, keys: KeyRing) -> None:
        """Adopt a rotated key ring (the daemon does this when it meets an unknown key id)."""
        with self._refs_lock:
            self._refs = {}
        self.keys = keys

    def close(self) -> None:
        self.engine.dispose()
