"""One engine per SQLite store across data directories; one engine per engine id on PostgreSQL
(several engines share it by lease): a second engine that may not start is refused with a clear
error (PostgreSQL advisory lock per schema and engine id; a lock file beside SQLite)."""

from __future__ import annotations

import pytest

from engine.core.errors import StoreBusy
from engine.security.crypto import KeyRing
from engine.store.engine_lock import StoreLock
from engine.store.store import Store


def test_a_second_engine_on_the_same_store_is_refused(db_url: str, keyring: KeyRing) -> None:
    first, second = Store.open(db_url, keyring), Store.open(db_url, keyring)
    a, b = StoreLock(first, "e-1"), StoreLock(second, "e-1")
    try:
        a.acquire()
        with pytest.raises(
            StoreBusy, match="another SysAlert engine uses this database|e-1 already runs"
        ):
            b.acquire()
        a.release()
        b.acquire()  # the first one stopped: the next may start
        b.release()
    finally:
        a.release()
        first.close()
        second.close()


@pytest.mark.postgres
def test_engines_with_other_ids_share_a_postgresql_store(keyring: KeyRing) -> None:
    """Several engines on one PostgreSQL: each id takes its own lock; SQLite still refuses."""
    from tests.cluster_harness import pg_schema
    from tests.conftest import need, pg_available

    need("PostgreSQL", pg_available(), "start the local PostgreSQL")
    with pg_schema() as url:
        first, second = Store.open(url, keyring), Store.open(url, keyring)
        a, b = StoreLock(first, "e-1"), StoreLock(second, "e-2")
        try:
            a.acquire()
            b.acquire()
            assert a.held() and b.held()
        finally:
            a.release()
            b.release()
            first.close()
            second.close()


def test_other_stores_are_not_held(db_url: str, keyring: KeyRing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Another SQLite file, or another PostgreSQL schema (each test has its own), is free."""
    mine = Store.open(db_url, keyring)
    other = Store.open(f"sqlite:///{tmp_path / 'other.db'}", keyring)
    a, b = StoreLock(mine), StoreLock(other)
    try:
        a.acquire()
        b.acquire()
    finally:
        a.release()
        b.release()
        mine.close()
        other.close()


def test_a_lost_postgresql_lock_is_noticed(db_url: str, keyring: KeyRing) -> None:
    """A dropped session loses the advisory lock without a word: held() says so (the
    housekeeping round turns /health red with it)."""
    store = Store.open(db_url, keyring)
    lock = StoreLock(store)
    try:
        lock.acquire()
        assert lock.held()
        if store.sqlite:
            return  # a lock file held by this process cannot be lost this way
        lock._conn.invalidate()  # what a server restart does to the session
        assert not lock.held()
        other = StoreLock(store)
        other.acquire()  # indeed free: a second engine could start
        other.release()
    finally:
        lock.release()
        store.close()


@pytest.mark.anyio
async def test_the_engine_reports_a_lost_lock_in_health_and_takes_it_again(
    db_url: str, keyring: KeyRing, settings
) -> None:  # type: ignore[no-untyped-def]
    import anyio

    from engine.api.server import health_report
    from engine.runtime.engine import Engine

    store = Store.open(db_url, keyring)
    lock = StoreLock(store)
    settings.engine.seed_local_targets = False
    try:
        lock.acquire()
        engine = Engine(settings, store)
        engine.store_lock = lock
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            if not store.sqlite:
                lock._conn.invalidate()  # as a server restart or pg_terminate_backend would
                with anyio.fail_after(10):
                    while engine.store_lock_error != "StoreLockLost":
                        await anyio.sleep(0.02)
                report = await anyio.to_thread.run_sync(health_report, engine)
                assert "store" in report["failing"]
                assert report["parts"]["store"]["error"] == "StoreLockLost"
                with anyio.fail_after(10):
                    while engine.store_lock_error is not None:
                        await anyio.sleep(0.02)
                assert lock.held()
                report = await anyio.to_thread.run_sync(health_report, engine)
                assert report["status"] == "ok", report
            engine.stop()
    finally:
        lock.release()
        store.close()


@pytest.mark.postgres
def test_a_lock_another_engine_took_meanwhile_is_not_taken_again(keyring: KeyRing) -> None:
    """Re-taking is a try-lock: while another engine holds the store, it fails and says so."""
    from tests.conftest import PG_URL, pg_available

    if not pg_available():
        pytest.skip("PostgreSQL does not answer")
    import uuid

    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    first, second = Store.open(url, keyring), Store.open(url, keyring)
    a, b = StoreLock(first, "e-1"), StoreLock(second, "e-1")
    try:
        a.acquire()
        a._conn.invalidate()  # the first engine's connection dies...
        assert not a.held()
        b.acquire()  # ...and a second engine takes the store meanwhile
        with pytest.raises(StoreBusy):
            a.reacquire()
        assert not a.held()  # no connection: still not held, never "fine"
        b.release()
        a.reacquire()
        assert a.held()
    finally:
        a.release()
        b.release()
        first.close()
        second.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_failed_statement_does_not_make_the_lock_look_lost(db_url: str, keyring: KeyRing) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    store = Store.open(db_url, keyring)
    lock = StoreLock(store)
    try:
        lock.acquire()
        if store.sqlite:
            return
        with pytest.raises(ProgrammingError):
            lock._conn.execute(text("SELECT * FROM no_such_table"))  # the session is now aborted
        assert lock.held()  # rolled back and asked again: still ours
    finally:
        lock.release()
        store.close()
