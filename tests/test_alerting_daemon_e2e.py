"""End to end, as an operator sees it: a real `sysalert --daemon`, a real TCP service that dies, a
webhook receiver that gets the alert, `incidents ack` from the CLI that sticks, and the resolved
notice when the service is back. (The shape of checks/issue-4-alerting.)"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.daemon_harness import Daemon, init_store, start_daemon, sysalert, wait_for
from tests.test_channel_webhook import Receiver

pytestmark = pytest.mark.slow


def listen(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def cli_json(data_dir: Path, *argv: str) -> object:
    r = sysalert(data_dir, *argv, "--json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def state_of(daemon: Daemon, name: str) -> str:
    r = daemon.unix().get("/api/v1/targets")
    return next(t["state"] for t in r.json() if t["name"] == name)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def test_down_target_alerts_a_webhook_and_cli_ack_sticks(tmp_path: Path, hooks: Receiver) -> None:
    data_dir = tmp_path / "data"
    init_store(data_dir)
    port = free_port()
    service = listen(port)
    assert (
        sysalert(data_dir, "contacts", "add", "oncall", f"webhook:{hooks.url}/hook").returncode == 0
    )
    added = sysalert(
        data_dir,
        "target",
        "add",
        f"tcp://127.0.0.1:{port}",
        "--name",
        "db-primary",
        "--interval",
        "1s",
        "--timeout",
        "1s",
    )
    assert added.returncode == 0, added.stderr
    daemon = start_daemon(data_dir)
    try:
        assert wait_for(lambda: state_of(daemon, "db-primary") == "up", timeout=10)
        service.close()  # the service dies under the running daemon

        assert wait_for(lambda: hooks.requests, timeout=20), "no webhook POST after the target died"
        alert = hooks.requests[0]
        body = alert.json()
        assert body["kind"] == "alert" and body["target_name"] == "db-primary"
        assert body["state"] == "down" and alert.headers["idempotency-key"].endswith("-alert-1")

        firing = cli_json(data_dir, "incidents", "list", "--state", "firing")
        (inc,) = firing
        assert inc["id"] == body["incident_id"] and inc["target"] == "db-primary"
        (note,) = inc["notifications"]
        assert note["channel"] == "webhook" and note["contact"] == "oncall" and note["sent_at"]

        ack = sysalert(data_dir, "incidents", "ack", inc["id"], "--by", "checks")
        assert ack.returncode == 0, ack.stderr
        acked = wait_for(lambda: cli_json(data_dir, "incidents", "list", "--state", "acknowledged"))
        assert [i["id"] for i in acked] == [inc["id"]]
        assert acked[0]["acked_by"] == "checks"
        assert acked[0]["notifications"][0]["acked_by"] == "checks"

        service = listen(port)  # back: the incident resolves and the receiver hears so
        assert wait_for(lambda: len(hooks.requests) >= 2, timeout=15), "no resolved notice"
        resolved = hooks.requests[1].json()
        assert resolved["kind"] == "resolved" and resolved["incident_id"] == inc["id"]
        (done,) = cli_json(data_dir, "incidents", "list", "--state", "resolved")
        assert done["id"] == inc["id"] and done["acked_by"] == "checks"
        assert len(hooks.requests) == 2, "one alert and one resolved notice, nothing twice"
    finally:
        service.close()
        rc = daemon.stop()
    assert rc == 0, daemon.log()[-2000:]
