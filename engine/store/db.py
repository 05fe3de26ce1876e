"""Opening the database: SQLite (WAL, one writer) by default, PostgreSQL by URL."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import create_engine

from engine.errors import SysAlertError


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
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
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


def describe_error(exc: Exception) -> str:
    """A one-line reason for a store failure without connection details (a driver's message can
    name the server's address: /health and API errors are read without a key)."""
    from engine.privacy import redact

    if isinstance(exc, OperationalError):
        return redact(str(exc.orig).split("\n")[0]) if exc.orig else "operational error"
    return type(exc).__name__
