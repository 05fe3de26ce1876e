"""A daemon killed right after answering a ping comes back knowing the ping.

The 200 is sent once the ping's row is committed; the heartbeat state it changed reaches the store
with the runtime flush, up to two seconds later. These tests SIGKILL a real daemon inside that
window and check that the restarted daemon folds the committed pings back into the state (and
opens the incident a /fail ping called for), instead of trusting the older stored state.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_harness import (
    ROOT,
    Daemon,
    child_env,
    cli,
    init_store,
    start_daemon,
    wait_for,
)

CURL = shutil.which("curl")
pytestmark = pytest.mark.needs("curl")


def curl(url: str) -> int:
    out = subprocess.run(
        [CURL or "curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=15,
    )
    return int(out.stdout)


def stored(d: Daemon, target_id: str) -> tuple[str, dict[str, Any]]:
    """The state and heartbeat state as the store holds them (not the running engine's view)."""
    with d.db() as db:
        state, hb = db.execute(
            "SELECT state, hb_state FROM targets WHERE id = ?", (target_id,)
        ).fetchone()
    return state, json.loads(hb) if hb else {}


def ping_then_kill(data_dir: Path, setup: Any, last_ping: str, stored_state: str) -> dict[str, Any]:
    """Start a daemon, `setup(d)` (returns the heartbeat, its earlier pings flushed), send the
    `last_ping` suffix and SIGKILL at once. The stored state must still be `stored_state`, so the
    restart has something to replay; in the rare run where the runtime flush got in between,
    it goes again."""
    for _ in range(5):
        d = start_daemon(data_dir)
        try:
            hb = setup(d)
            assert curl(hb["ping_url"] + last_ping) == 200
            d.signal(signal.SIGKILL)
            d.wait(10)
        finally:
            if d.proc.poll() is None:
                d.stop()
        if stored(d, hb["id"])[0] == stored_state:
            return hb
    pytest.fail("the runtime flush ran before every kill")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    init_store(d)
    return d


def _add_heartbeat(d: Daemon, name: str) -> dict[str, Any]:
    r = d.unix().post("/api/v1/targets", json={"spec": f"heartbeat://{name}?every=1h&grace=5m"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _flushed(d: Daemon, target_id: str, state: str) -> bool:
    return stored(d, target_id)[0] == state


def test_a_fail_ping_answered_before_a_kill_is_down_after_the_restart(data_dir: Path) -> None:
    names = iter(f"nightly-backup-{i}" for i in range(10))

    def setup(d: Daemon) -> dict[str, Any]:
        hb = _add_heartbeat(d, next(names))
        assert curl(hb["ping_url"]) == 200
        assert wait_for(lambda: _flushed(d, hb["id"], "up"), timeout=10)
        return hb

    hb = ping_then_kill(data_dir, setup, "/fail", "up")
    d = start_daemon(data_dir)
    try:
        u = d.unix()
        t = u.get(f"/api/v1/targets/{hb['id']}").json()
        assert t["state"] == "down"
        hb_state = json.loads(t["hb_state"])
        assert hb_state["last_kind"] == "fail" and hb_state["n_pings"] == 2
        inc = wait_for(
            lambda: u.get(
                "/api/v1/incidents", params={"target": hb["name"], "state": "firing"}
            ).json()
        )
        assert inc and inc[0]["error_class"] == "exit"
        assert "1 ping(s) replayed" in d.log()
        # The replayed state reaches the store with the next runtime flush.
        assert wait_for(lambda: _flushed(d, hb["id"], "down"), timeout=10)
    finally:
        d.stop()


def test_a_run_started_and_finished_before_a_kill_keeps_its_duration(data_dir: Path) -> None:
    names = iter(f"report-{i}" for i in range(10))

    def setup(d: Daemon) -> dict[str, Any]:
        hb = _add_heartbeat(d, next(names))
        assert curl(hb["ping_url"] + "/start") == 200
        assert wait_for(lambda: stored(d, hb["id"])[1].get("last_start_at"), timeout=10)
        return hb

    hb = ping_then_kill(data_dir, setup, "", "unknown")
    d = start_daemon(data_dir)
    try:
        t = d.unix().get(f"/api/v1/targets/{hb['id']}").json()
        hb_state = json.loads(t["hb_state"])
        assert t["state"] == "up"
        assert hb_state["last_start_at"] is None  # the run ended
        assert hb_state["last_kind"] == "success" and hb_state["last_duration_s"] > 0
    finally:
        d.stop()
    # No ping is counted twice, however often the daemon restarts.
    d = start_daemon(data_dir)
    try:
        again = json.loads(d.unix().get(f"/api/v1/targets/{hb['id']}").json()["hb_state"])
        assert again["n_pings"] == hb_state["n_pings"] == 2
    finally:
        d.stop()


def test_cli_pings_while_no_engine_runs_count_when_it_starts(data_dir: Path) -> None:
    """`sysalert ping` during a restart: nobody answers on the socket, so the CLI takes the engine
    lock, stores the pings, and the next start folds them in (and opens the incident a failed
    run calls for). Once a daemon runs, the same command goes to it."""
    d = start_daemon(data_dir)
    try:
        hb = _add_heartbeat(d, "restart-window")
        assert curl(hb["ping_url"]) == 200
        assert wait_for(lambda: _flushed(d, hb["id"], "up"), timeout=10)
    finally:
        d.stop()  # SIGTERM: the state is flushed, the socket gone
    rc, out, err = cli(data_dir, "ping", "restart-window", "start")
    assert rc == 0, err
    assert out.startswith("stored ping of restart-window (start): no engine runs now")
    rc, out, err = cli(data_dir, "ping", "restart-window", "3")
    assert rc == 0 and "it counts when SysAlert starts" in out, err
    assert stored(d, hb["id"])[0] == "up"  # nothing but the rows changed yet
    with d.db() as db:
        pings = db.execute(
            "SELECT ping, ok, value FROM results WHERE target_id = ? ORDER BY ts", (hb["id"],)
        ).fetchall()
    assert [p[:2] for p in pings] == [("success", 1), ("start", 1), ("exit:3", 0)]
    assert pings[2][2] is not None and pings[2][2] < 2.5  # the run time since the stored /start
    rc, out, err = cli(data_dir, "target", "show", "restart-window")
    assert "last ping was a failure" in out, out  # what the next start will see, not "up"
    d = start_daemon(data_dir)
    try:
        u = d.unix()
        t = u.get(f"/api/v1/targets/{hb['id']}").json()
        hb_state = json.loads(t["hb_state"])
        assert t["state"] == "down" and hb_state["last_exit_status"] == 3
        assert hb_state["n_pings"] == 3 and hb_state["last_duration_s"] == pings[2][2]
        inc = wait_for(
            lambda: u.get(
                "/api/v1/incidents", params={"target": hb["name"], "state": "firing"}
            ).json()
        )
        assert inc and inc[0]["error_class"] == "exit"
        assert "2 ping(s) replayed" in d.log()
        rc, out, err = cli(data_dir, "ping", "restart-window")  # a daemon runs: sent to it
        assert rc == 0 and out.startswith("pinged restart-window (success): last ping"), err
        assert u.get(f"/api/v1/targets/{hb['id']}").json()["state"] == "up"
    finally:
        d.stop()


def test_cli_pings_that_race_while_no_engine_runs_are_all_stored(data_dir: Path) -> None:
    """Cron fires several jobs in the same second: each `sysalert ping` waits its turn for the
    engine lock instead of failing, and none is lost."""
    d = start_daemon(data_dir)
    try:
        names = [f"job-{i}" for i in range(4)]
        ids = [_add_heartbeat(d, n)["id"] for n in names]
    finally:
        d.stop()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sysalert_tui", "ping", name],
            env=child_env(data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in names
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    assert all(o.startswith("stored ping of job-") for o, _ in outs), outs
    with d.db() as db:
        stored_ids = {
            r[0] for r in db.execute("SELECT target_id FROM results WHERE ping = 'success'")
        }
    assert stored_ids == set(ids)
