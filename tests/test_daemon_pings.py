"""Heartbeat pings as cron wrappers send them (curl, Healthchecks-style URLs), against a real daemon.

A 200 means "recorded": each test reads the SQLite file itself, from another connection, right
after the answer, and finds the ping's result committed there.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.daemon_harness import Daemon, init_store, start_daemon, wait_for

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    data_dir = tmp_path_factory.mktemp("pings") / "data"
    init_store(data_dir)
    d = start_daemon(data_dir)
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def hb(daemon: Daemon, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A fresh heartbeat target per test, its ping URL pointing at the daemon's TCP listener."""
    u = daemon.unix()
    name = "hb-" + request.node.name[5:40].replace("[", "-").replace("]", "")
    r = u.post("/api/v1/targets", json={"spec": f"heartbeat://{name}?every=1h&grace=5m"})
    assert r.status_code == 200, r.text
    t = dict(r.json())
    assert t["ping_url"].startswith(daemon.base_url + "/ping/")
    yield t
    u.delete(f"/api/v1/targets/{t['id']}")


def curl(*args: str) -> tuple[int, str]:
    """What a crontab line does: `curl -fsS -m 10 --retry 3 URL`, here reporting the status code."""
    out = subprocess.run(
        [CURL or "curl", "-sS", "-m", "10", "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=15,
    )
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def results(d: Daemon, target_id: str) -> list[tuple[Any, ...]]:
    with d.db() as db:
        return db.execute(
            "SELECT ok, value, error_class FROM results WHERE target_id = ? ORDER BY id",
            (target_id,),
        ).fetchall()


def state(d: Daemon, target_id: str) -> str:
    return str(d.unix().get(f"/api/v1/targets/{target_id}").json()["state"])


@pytest.mark.parametrize(
    "how",
    [["-X", "GET"], ["-X", "POST", "--data-raw", "backup done: 12 GB"], ["-I"]],
    ids=["GET", "POST", "HEAD"],
)
def test_success_ping_is_committed_before_the_200(
    daemon: Daemon, hb: dict[str, Any], how: list[str]
) -> None:
    code, body = curl(*how, hb["ping_url"])
    assert code == 200
    if how != ["-I"]:
        assert body == "OK"
    else:
        assert "content-length: 2" in body.lower()  # HEAD: headers only
    assert results(daemon, hb["id"]) == [(1, None, None)]  # committed: read straight from the file
    assert state(daemon, hb["id"]) == "up"


def test_start_then_success_records_the_run_time(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"] + "/start")[0] == 200
    assert state(daemon, hb["id"]) == "unknown"  # a start alone decides nothing
    time.sleep(0.3)
    assert curl(hb["ping_url"])[0] == 200
    rows = results(daemon, hb["id"])
    assert len(rows) == 2 and rows[1][0] == 1
    assert 0.25 < rows[1][1] < 5.0, rows  # the job's duration in seconds
    assert state(daemon, hb["id"]) == "up"


def test_fail_ping_marks_down_and_opens_an_incident(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"])[0] == 200
    assert curl("-X", "POST", "--data-raw", "tar: exit 2", hb["ping_url"] + "/fail")[0] == 200
    assert results(daemon, hb["id"])[-1] == (0, None, "exit")
    assert state(daemon, hb["id"]) == "down"
    u = daemon.unix()
    inc = wait_for(
        lambda: u.get("/api/v1/incidents", params={"target": hb["name"], "state": "firing"}).json()
    )
    assert inc and inc[0]["error_class"] == "exit"
    assert curl(hb["ping_url"])[0] == 200
    assert state(daemon, hb["id"]) == "up"
    assert wait_for(
        lambda: (
            u.get("/api/v1/incidents", params={"target": hb["name"]}).json()[0]["state"]
            == "resolved"
        )
    )


def test_exit_codes(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"] + "/0")[0] == 200
    assert state(daemon, hb["id"]) == "up"
    assert curl(hb["ping_url"] + "/1")[0] == 200
    assert state(daemon, hb["id"]) == "down"
    assert curl(hb["ping_url"] + "/0")[0] == 200
    assert results(daemon, hb["id"]) == [(1, 0.0, None), (0, 1.0, "exit"), (1, 0.0, None)]


def test_log_ping_is_recorded_without_changing_state(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"])[0] == 200
    assert curl("--data-raw", "disk at 81%", hb["ping_url"] + "/log")[0] == 200
    assert len(results(daemon, hb["id"])) == 2
    assert state(daemon, hb["id"]) == "up"


def test_bad_pings_are_refused_and_record_nothing(daemon: Daemon, hb: dict[str, Any]) -> None:
    url = hb["ping_url"]
    code, body = curl(url + "/256")
    assert (code, body.strip()) == (400, "exit status must be 0-255")
    assert curl(url + "/-1")[0] == 400
    assert curl(url + "/99999999999999999999")[0] == 400
    assert curl(daemon.base_url + "/ping/not-a-real-token")[0] == 404
    assert curl(daemon.base_url + "/ping/not-a-real-token/start")[0] == 404
    assert curl(url + "/whatever")[0] == 404
    assert curl("-X", "PUT", url)[0] == 405
    assert curl("-X", "DELETE", url)[0] == 405
    assert results(daemon, hb["id"]) == []
    assert state(daemon, hb["id"]) == "unknown"


def test_query_string_is_ignored(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"] + "?rid=5b3ec0a7")[0] == 200
    assert curl(hb["ping_url"] + "/start?create=0")[0] == 200
    assert len(results(daemon, hb["id"])) == 2


def test_token_is_stored_only_sealed_and_fingerprinted(daemon: Daemon, hb: dict[str, Any]) -> None:
    token = hb["ping_url"].rsplit("/", 1)[1]
    assert curl(hb["ping_url"])[0] == 200
    raw = b"".join(p.read_bytes() for p in daemon.data_dir.glob("sysalert.db*"))
    assert token.encode() not in raw
    assert token not in daemon.log()


def test_concurrent_pings_all_committed(daemon: Daemon, hb: dict[str, Any]) -> None:
    """Group commit: many pings in flight share transactions, and every 200 is a stored row."""
    with httpx.Client(timeout=10) as c, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: c.get(hb["ping_url"]).status_code, range(64)))
    assert codes == [200] * 64
    assert len(results(daemon, hb["id"])) == 64
    stats = daemon.unix().get("/api/v1/stats").json()
    assert stats["results_written"] >= 64
