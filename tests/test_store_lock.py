"""One engine per store across data directories and hosts: a second engine on the same database
is refused with a clear error (PostgreSQL advisory lock per schema; a lock file beside SQLite)."""

from __future__ import annotations

import pytest

from engine.crypto import KeyRing
from engine.errors import StoreBusy
from engine.store.engine_lock import StoreLock
from engine.store.store import Store


def test_a_second_engine_on_the_same_store_is_refused(db_url: str, keyring: KeyRing) -> None:
    first, second = Store.open(db_url, keyring), Store.open(db_url, keyring)
    a, b = StoreLock(first), StoreLock(second)
    try:
        a.acquire()
        with pytest.raises(StoreBusy, match="another SysAlert engine uses this database"):
            b.acquire()
        a.release()
        b.acquire()  # the first one stopped: the next may start
        b.release()
    finally:
        a.release()
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
