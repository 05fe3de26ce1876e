"""Opening the database: SQLite (WAL, one writer) by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlmodel import create_engine

from engine.core.errors import SysAlertError

# The sqlite3 module binds exact int, float, str and bytearray at once; None, bool and bytes go
# through its adapter protocol, which fails two attribute lookups (each formatting an
# AttributeError) for every such value. A result row carries several (ok, value, error class,
# detail, ping), a runtime row a few more: with adapters registered for them the registry answers
# first, and the same values are bound (a bool as 0 or 1, None as NULL, bytes as a blob) in half
# the time (a results-like row: 4.0 us -> 1.9 us; the engine's write path, callgrind: 8% of all
# instructions a check went to these failed lookups). Process-wide, as sqlite3 keeps them.
_NONE: dict[object, None] = {}
sqlite3.register_adapter(bool, int)
sqlite3.register_adapter(type(None), _NONE.get)
sqlite3.register_adapter(bytes, bytes)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def open_db(url: str) -> Engine:
    """Create the SQLAlchemy engine with the pragmas a monitoring store needs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SysAlertError(
            "database_url does not parse", "use sqlite:///path/to.db or postgresql+psycopg://..."
        ) from None
    if is_sqlite(url):
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            # Freed cells are zeroed (FAST costs no extra I/O), so an erased or overwritten sealed
            # value leaves no stale copy in a page's free space. Builds whose default is ON keep it.
            if cur.execute("PRAGMA secure_delete").fetchone()[0] == 0:
                cur.execute("PRAGMA secure_delete=FAST")
            cur.close()

        if parsed.database:
            db = Path(parsed.database)
            db.touch(exist_ok=True)
            db.chmod(0o600)
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (NoSuchModuleError, ModuleNotFoundError):
        raise SysAlertError(
            "the PostgreSQL driver is not installed", "pip install 'sysalert[postgres]'"
        ) from None


def check_writable(engine: Engine) -> None:
    """Touch the store inside a transaction: /health uses it to catch a read-only or full disk."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'health_probe'"), {"v": str(time.time())}
        )


# What a driver's message says, reduced to a class of failure. The message itself names the
# host, port, user or file, so it never leaves this function.
_FAILURES = (
    (
        (
            "failed to resolve host",
            "could not translate host name",
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
        ),
        "the database host name does not resolve",
    ),
    (("password authentication failed", "no password supplied"), "authentication failed"),
    (("database is locked",), "the database is locked"),
    (("readonly database", "read-only"), "the database is read-only"),
    (("disk is full", "no space left"), "the disk is full"),
    (("disk i/o error",), "disk I/O error"),
    (("unable to open database file",), "the database file cannot be opened"),
    (
        (
            "connection refused",
            "could not connect",
            "connection to server",
            "server closed the connection",
            "connection timed out",
            "timeout expired",
            "network is unreachable",
            "no route to host",
            "terminating connection",
            "connection is closed",
        ),
        "cannot reach the database server",
    ),
    (("does not exist",), "the database or role does not exist"),
)


def describe_error(exc: BaseException) -> str:
    """The class of a store failure in a few words (for /health, API 503 bodies and logs):
    never the driver's text, which names the host, port, user or file."""
    if isinstance(exc, DBAPIError):
        orig = str(exc.orig or "").lower()
        for needles, what in _FAILURES:
            if any(n in orig for n in needles):
                return what
        return "database error" if not isinstance(exc, OperationalError) else "operational error"
    return type(exc).__name__


class StoreUnavailable(SysAlertError):
    """The store cannot be used now (server down, disk full, locked): what callers above the store
    catch instead of the driver's OperationalError. The message is `describe_error`'s, no address."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(f"the store cannot be used now: {describe_error(exc)}", "see GET /health")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the store is down rather than that a query was wrong."""
    return isinstance(exc, (OperationalError, StoreUnavailable))
