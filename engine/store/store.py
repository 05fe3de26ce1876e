"""The Store: one SQLAlchemy engine plus the key ring, with sealing helpers bound to table/column/row."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from engine.core.errors import SysAlertError
from engine.security.crypto import (
    ENV_MASTER_KEY,
    KEY_FILE_NAME,
    KeyRing,
    UnknownKeyId,
    load_key_ring,
    write_key_file,
)
from engine.store.db import describe_error, is_sqlite, open_db
from engine.store.migrations import migrate

log = logging.getLogger(__name__)
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
        # Where the key ring is read again when `sysalert rotate-keys` rewrites it (None: never),
        # and what the key file looked like when this ring was read from it.
        self.key_dir: Path | None = None
        self._key_stamp: tuple[int, int, int] | None = None
        self._keys_lock = threading.Lock()
        # A rotation on another host of a shared store (engine.store.key_handoff): the key id
        # this process lacks and could not get (shown by /health), and what it adopted.
        self.key_missing: str | None = None
        self.key_note: str | None = None
        self._key_listeners: list[Callable[[KeyRing], None]] = []

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
        store = cls.open(url, load_key_ring(data_dir))
        store.watch_key_file(data_dir)
        return store

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
        keys = self.keys
        try:
            return keys.open(bytes(blob), table, column, row)
        except UnknownKeyId:
            # Sealed by a rotation that ran beside this process: adopt its ring, then open again.
            if self.keys is keys and not self.refresh_keys():
                raise
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
        """Fingerprints under every key: matches rows written before a rotation finished. A lookup
        opens nothing sealed, so it checks the key file itself (one stat): a rotation run beside
        this process has re-keyed the rows to a key this ring does not know yet."""
        if self.key_file_changed():
            self.refresh_keys()
        return self.keys.fingerprints(value, purpose)

    def ref(self, kind: str, value: str) -> str:
        return self.keys.short_ref(kind, value)

    def refs(self, kind: str, value: str) -> list[str]:
        """The ref under every key: finds audit rows written before a rotation too."""
        return self.keys.short_refs(kind, value)

    def refs_of(self, kind: str, ids: Iterable[str]) -> dict[str, str]:
        """ref -> id for every id given (audit rows name objects by ref), under every key of the
        ring (rows written before a rotation). A ref is an HMAC, about 2 µs each: computed once
        per id and key ring, so a history page at 100,000 targets costs one pass over the ids."""
        with self._refs_lock:
            by_ref, seen = self._refs.setdefault(kind, ({}, set()))
            for i in ids:
                if i not in seen:
                    seen.add(i)
                    for ref in self.refs(kind, i):
                        by_ref[ref] = i
            return by_ref

    def reload_keys(self, keys: KeyRing) -> None:
        """Adopt a rotated key ring (the daemon does this when it meets an unknown key id)."""
        with self._refs_lock:
            self._refs = {}
        self.keys = keys

    # ---- a rotation run by another process -------------------------------------------------------
    def watch_key_file(self, data_dir: Path) -> None:
        """Read the ring again from `data_dir` when a rotation rewrites it (see refresh_keys)."""
        self.key_dir = data_dir
        self._key_stamp = _stamp(data_dir / KEY_FILE_NAME)

    def on_keys_changed(self, listener: Callable[[KeyRing], None]) -> None:
        """Call `listener(ring)` (from the adopting thread) after a new ring is adopted: whoever
        built an index from fingerprints builds it again."""
        self._key_listeners.append(listener)

    def key_file_changed(self) -> bool:
        """One stat: whether the key file differs from the one this ring was read from. Keys in
        the environment cannot change under a running process."""
        if self.key_dir is None or os.environ.get(ENV_MASTER_KEY):
            return False
        return _stamp(self.key_dir / KEY_FILE_NAME) != self._key_stamp

    def refresh_keys(self) -> bool:
        """Read the key ring again and adopt it when a rotation added a key; True when adopted.

        Only a ring that still holds every key of this one is adopted: a rotation adds keys, and a
        ring without them would leave values this process sealed unreadable."""
        if self.key_dir is None:
            return False
        with self._keys_lock:
            # Stamp first: a damaged file is reported once, not at every lookup after it.
            self._key_stamp = _stamp(self.key_dir / KEY_FILE_NAME)
            ring = load_key_ring(self.key_dir)
            if ring.key_ids == self.keys.key_ids:
                handed = self._from_handoff()
                if handed is None:
                    return False
                ring = handed
            elif not set(self.keys.key_ids) <= set(ring.key_ids):
                log.error(
                    "the key file no longer holds every key this store was opened with: kept the "
                    "ring in memory (restore the file from backup, or restart with the right key)"
                )
                return False
            self.reload_keys(ring)
            self.key_missing = None
        log.info("key ring adopted after a rotation: %d keys, the newest seals", len(ring.key_ids))
        for listener in list(self._key_listeners):
            try:
                listener(ring)
            except Exception:  # one broken listener must not fail the read that adopted the ring
                log.exception("a key ring listener failed")
        return True

    def _from_handoff(self) -> KeyRing | None:
        """A rotation ran on another host (the key file here has no new key): the ring its
        hand-off row holds for a key this process has, written to the key file here (atomically,
        0600) and returned; None, and `key_missing` set, when the store names a newer key this
        process cannot get. Under _keys_lock."""
        from engine.store import key_handoff

        with self.engine.begin() as conn:
            want = key_handoff.current(conn)
            if want is None or want in {k.hex() for k in self.keys.key_ids}:
                return None
            masters = key_handoff.open_for(conn, self.keys)
        ring = KeyRing.from_masters(masters) if masters else None
        if (
            ring is None
            or want not in {k.hex() for k in ring.key_ids}
            or not (set(self.keys.key_ids) <= set(ring.key_ids))
        ):
            if self.key_missing != want:
                log.error(
                    "store re-keyed with key id %s which this engine lacks: copy the key file "
                    "from a host that has it",
                    want,
                )
            self.key_missing = want
            return None
        assert masters is not None and self.key_dir is not None
        if os.environ.get(ENV_MASTER_KEY):
            where = f"in memory only: add it to {ENV_MASTER_KEY} before the next start"
        else:
            write_key_file(self.key_dir / KEY_FILE_NAME, masters)
            self._key_stamp = _stamp(self.key_dir / KEY_FILE_NAME)
            where = "the key file here was rewritten (0600)"
        self.key_note = (
            f"adopted key id {want} from the store's hand-off (a rotation on another host): {where}"
        )
        log.warning("key rotation: %s", self.key_note)
        return ring

    def close(self) -> None:
        self.engine.dispose()


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What identifies one version of the key file (it is replaced, never edited in place)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
