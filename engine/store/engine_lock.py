"""One engine per SQLite store; one engine per engine id on a PostgreSQL store.

The data directory's lock file keeps a second daemon or console on this machine out. A SQLite
database gets a lock file beside it: a second engine from another data directory is refused. On
PostgreSQL several engines share the store (leases, engine.store.cluster), so the advisory lock is
per engine id: the same engine (same id, e.g. a copied data directory with SYSALERT_ENGINE_ID
unchanged) cannot run twice, and its leases are never renewed by two processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.core.errors import StoreBusy
from engine.store.store import Store

# Per schema (tests use one each) and engine id.
_PG_KEY = "hashtext(current_schema() || '/sysalert-engine/' || :engine_id)"
_PG_LOCK = f"SELECT pg_try_advisory_lock({_PG_KEY})"
_PG_UNLOCK = f"SELECT pg_advisory_unlock({_PG_KEY})"
_BUSY_HINT = "stop the other engine first, or attach to it (`sysalert --connect URL`)"


class StoreLock:
    def __init__(self, store: Store, engine_id: str = "") -> None:
        self.store = store
        self.engine_id = engine_id
        self._conn: Any = None
        self._fd: int | None = None
        self._pg = False  # a PostgreSQL advisory lock was taken: no connection means not held

    def acquire(self) -> None:
        """Take the store's engine lock or raise StoreBusy naming why."""
        if self.store.sqlite:
            database = make_url(self.store.url).database
            if not database or database == ":memory:":
                return  # a private in-memory store: nobody else can open it
            path = Path(database).with_name(Path(database).name + ".engine-lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreBusy(
                    "another SysAlert engine uses this database (its lock file is held)",
                    _BUSY_HINT,
                ) from None
            self._fd = fd
            return
        self._pg = True
        conn = self.store.engine.connect()
        try:
            got = bool(conn.execute(text(_PG_LOCK), {"engine_id": self.engine_id}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            raise StoreBusy(
                f"engine {self.engine_id or '(no id)'} already runs on this database (another"
                " process holds its advisory lock)",
                "stop it first, or give this one another id ([engine] id or SYSALERT_ENGINE_ID)",
            )
        self._conn = conn

    def held(self) -> bool:
        """Whether the lock still stands. A PostgreSQL advisory lock lives with its session: a
        dropped connection (a server restart, an idle timeout) loses it silently, and a second
        engine could start. The housekeeping round asks, and /health says so."""
        if self._conn is None:  # SQLite's lock file (or no lock) lives as long as this process
            return not self._pg
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted"
        )
        for _ in range(2):  # a failed statement leaves the session aborted: roll back, ask again
            try:
                got = self._conn.execute(query).scalar()
                self._conn.commit()
                return bool(got)
            except Exception as exc:
                if getattr(exc, "connection_invalidated", False) or self._conn.invalidated:
                    return False  # the session is gone, and its lock with it
                try:
                    self._conn.rollback()
                except Exception:
                    return False
        return False

    def reacquire(self) -> None:
        """After `held()` said the lock is gone: drop the dead connection and try the lock again
        on a fresh one. StoreBusy when another engine took it meanwhile (both would be running:
        the caller stays red and says so)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a dead connection may fail to close; it is gone
                conn.close()
        self.acquire()

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            try:
                self._conn.execute(text(_PG_UNLOCK), {"engine_id": self.engine_id})
                self._conn.commit()
            except Exception:  # the session ending releases it anyway
                pass
            finally:
                self._conn.close()
                self._conn = None
        self._pg = False
