"""Shared fixtures: anyio on asyncio, temporary data directories, store on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.config.settings import Settings, load_settings
from engine.security.crypto import KeyRing, new_master_key


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# CI sets this (.ci/run): a test whose service or tool is missing then fails instead of skipping,
# so a run without PostgreSQL or curl cannot go green by skipping what it did not test.
REQUIRE_SERVICES = os.environ.get("SYSALERT_REQUIRE_SERVICES") == "1"


def need(what: str, present: bool, fix: str) -> None:
    """The one place a test gives up for a missing service, tool or host capability: a skip that
    says how to provide it, or under SYSALERT_REQUIRE_SERVICES=1 a failure."""
    if present:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is missing and SYSALERT_REQUIRE_SERVICES=1: {fix}", pytrace=False)
    pytest.skip(f"{what} is missing: {fix}")


def need_tool(name: str) -> str:
    """The path of a command-line tool a test runs (curl, tmux, ...), or `need` gives up."""
    path = shutil.which(name)
    need(name, path is not None, f"install it (apt-get install {name})")
    return path or name


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`pytestmark = pytest.mark.needs("curl")`: a whole module that needs a tool."""
    for mark in item.iter_markers("needs"):
        for tool in mark.args:
            need_tool(tool)


PG_URL = os.environ.get("SYSALERT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_available() -> bool:
    where = urlsplit(PG_URL)
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", where.port or 5432), 0.5):
            pass
        import psycopg  # noqa: F401
    except Exception:
        return False
    return True


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
    need(
        "PostgreSQL (SYSALERT_TEST_PG, default 127.0.0.1:5432, with psycopg)",
        pg_available(),
        "start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
        " and pip install -e '.[test]'",
    )
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
