"""The store dies under a real daemon: PostgreSQL kills every connection it has
(`pg_terminate_backend`). /health says so (503), recovers by itself (200) within seconds with
the store's engine lock taken again, and an outage after that is still alerted to a webhook."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, free_port, pg_available
from tests.daemon_harness import init_store, start_daemon, sysalert, wait_for
from tests.test_channel_webhook import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    if not pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer (or psycopg missing)")
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield schema
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def kill_backends(app: str) -> int:
    """Terminate the daemon's connections only (other tests share this server)."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :app"
                    ),
                    {"app": app},
                ).scalar()
                or 0
            )
    finally:
        admin.dispose()


def test_killed_connections_turn_health_red_then_green_and_alerts_flow(
    tmp_path: Path, pg_schema: str
) -> None:
    app = "sysalert-" + pg_schema
    url = f"{PG_URL}?application_name={app}&options=-csearch_path%3D{pg_schema}"
    data_dir = tmp_path / "data"
    init_store(data_dir, f'\n[general]\ndatabase_url = "{url}"\n')
    port = free_port()
    service = socket.socket()
    service.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    service.bind(("127.0.0.1", port))
    service.listen(64)
    with Receiver() as hooks:
        assert (
            sysalert(data_dir, "contacts", "add", "oncall", f"webhook:{hooks.url}/hook").returncode
            == 0
        )
        added = sysalert(
            data_dir, "target", "add", f"tcp://127.0.0.1:{port}", "--name", "web",
            "--interval", "1s", "--timeout", "1s",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        daemon = start_daemon(data_dir)
        try:
            assert wait_for(
                lambda: httpx.get(f"{daemon.base_url}/health").status_code == 200, timeout=20
            )
            time.sleep(1.5)
            assert kill_backends(app) >= 1
            codes: list[tuple[int, dict]] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = httpx.get(f"{daemon.base_url}/health", timeout=10)
                codes.append((r.status_code, r.json()))
                if r.status_code == 200 and any(c == 503 for c, _ in codes):
                    break
                time.sleep(0.1)
            red = [b for c, b in codes if c == 503]
            assert red, "the killed connections never showed in /health"
            # The store names itself; on PostgreSQL the engines' LISTEN connection (cluster-events-in)
            # may be the first to notice, one sample earlier.
            store_red = [b for b in red if "store" in b["failing"]]
            assert store_red, red
            assert store_red[0]["parts"]["store"]["error"].startswith("StoreLockLost")
            assert codes[-1][0] == 200, codes[-1]
            log = daemon.log()
            assert "the store's engine lock was lost" in log
            assert "is held again" in log
            assert "127.0.0.1" not in log and pg_schema not in log

            service.close()  # an outage after the store came back is still alerted
            assert wait_for(lambda: hooks.requests, timeout=30), "no alert after the reconnect"
            assert hooks.requests[0].json()["target_name"] == "web"
            assert httpx.get(f"{daemon.base_url}/health").status_code == 200
        finally:
            daemon.stop()
