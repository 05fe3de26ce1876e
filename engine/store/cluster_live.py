"""Several engines on one PostgreSQL store, live: the leader lock and LISTEN/NOTIFY.

One engine leads (holds a session advisory lock) and runs the store-wide duties; live events
travel between the engines over one NOTIFY channel per schema.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from sqlalchemy import text

from engine.store.store import Store

_PG_LEADER = "hashtext(current_schema() || '/sysalert-leader')"


# ---- leadership: one engine runs the store-wide duties ------------------------------------------
class LeaderLock:
    """A session advisory lock held by one connection: whoever holds it leads. An engine that dies
    loses it with its connection, and the next try of another engine takes it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Any = None

    def try_take(self) -> bool:
        if self._conn is not None:
            return self.held()
        conn = self.store.engine.connect()
        try:
            got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({_PG_LEADER})")).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            n = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid()"
                )  # this connection holds no other lock
            ).scalar()
            self._conn.commit()
        except Exception:
            self._drop()
            return False
        if not n:
            self._drop()
        return bool(n)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text(f"SELECT pg_advisory_unlock({_PG_LEADER})"))
                self._conn.commit()
            self._drop()


# ---- live events between engines: LISTEN/NOTIFY --------------------------------------------------
def channel_of(store: Store) -> str:
    """One NOTIFY channel per schema (tests and checks share one database)."""
    with store.engine.begin() as conn:
        return str(conn.execute(text("SELECT 'sysalert_' || md5(current_schema())")).scalar())[:40]


def notify(store: Store, channel: str, payloads: list[str]) -> None:
    if not payloads:
        return
    with store.engine.begin() as conn:
        conn.execute(text("SELECT pg_notify(:c, :p)"), [{"c": channel, "p": p} for p in payloads])


def announce(store: Store, method: str, *args: Any) -> None:
    """A change made without an engine (a CLI on the store itself), told to the running engines
    as the event the engine would have published; best effort (their lease sync catches up)."""
    if method in ("target_changed", "target_removed"):
        ev = {
            "type": "targets",
            "ts": time.time(),
            "target_id": args[0],
            "removed": method == "target_removed",
        }
    elif method == "maintenance_changed":
        ev = {"type": "maintenance", "ts": time.time(), "target_id": None, "active": True}
    elif method == "incidents_changed":
        ev = {"type": "incident", "ts": time.time(), "incident_id": args[0], "state": "changed"}
    else:
        return
    with contextlib.suppress(Exception):
        notify(store, channel_of(store), [json.dumps({"e": "command", "v": ev})])


def ask_check(store: Store, channel: str, sender: str, target_id: str) -> None:
    """Ask whichever engines hold `target_id` to probe it at once (the id only: never an
    address). Each holder that hears it jumps its queue; the others ignore it."""
    notify(store, channel, [json.dumps({"e": sender, "check": target_id})])


class Listener:
    """A connection of its own that LISTENs; `wait` returns the payloads that arrived."""

    def __init__(self, store: Store, channel: str) -> None:
        self.store = store
        self.channel = channel
        self._raw: Any = None

    def _connect(self) -> Any:
        raw = self.store.engine.raw_connection()
        pg: Any = raw.driver_connection
        pg.autocommit = True
        pg.execute(f"LISTEN {self.channel}")
        self._raw = raw
        return pg

    def wait(self, timeout: float) -> list[str]:
        """Blocks up to `timeout` seconds (worker thread)."""
        pg = self._raw.driver_connection if self._raw is not None else self._connect()
        try:
            out = [n.payload for n in pg.notifies(timeout=timeout, stop_after=1)]
            if out:  # a burst: take what else has arrived, without waiting long
                out += [n.payload for n in pg.notifies(timeout=0.002, stop_after=1000)]
            return out
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.invalidate()
