"""Shared fixtures: anyio on asyncio, temporary data directories, store on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.crypto import KeyRing, new_master_key


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        import psycopg  # noqa: F401
    except Exception:
        return False
    return True


PG_URL = os.environ.get("SYSALERT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("SYSALERT_DATA_DIR", str(d))
    monkeypatch.setenv("SYSALERT_CONFIG", str(d / "config.toml"))
    monkeypatch.delenv("SYSALERT_MASTER_KEY", raising=False)
    monkeypatch.delenv("SYSALERT_DATABASE_URL", raising=False)
    return d


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.from_masters([new_master_key()])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same store tests run on a SQLite file and, when it answers, the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if not pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer (or psycopg missing)")
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
