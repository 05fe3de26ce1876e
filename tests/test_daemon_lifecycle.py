"""The daemon as an operator runs it: health, metrics, SIGHUP, SIGTERM, one instance per store, and
CLI commands that go through the running daemon instead of a second engine.

Making the store unwritable: root ignores file modes, and the daemon's open file descriptors would
not care about a chmod or a rename anyway. `chattr +i` on the database file and its WAL makes every
write fail at once, for open and new connections alike (SQLite reports "disk I/O error" or
"attempt to write a readonly database"); the -shm file is left alone, since it is memory-mapped
and an immutable mapping ends the process with SIGBUS. The test skips where chattr cannot set the
flag (not root, or a filesystem without the attribute).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, need
from tests.daemon_harness import (
    Daemon,
    child_env,
    cli,
    init_store,
    running_daemon,
    start_daemon,
    sysalert,
    wait_for,
    write_config,
)


@pytest.fixture
def listener() -> Iterator[int]:
    """A real TCP service on loopback for tcp:// targets to find up."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                continue

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield srv.getsockname()[1]
    stop.set()
    th.join(2)
    srv.close()


# ---- health ---------------------------------------------------------------------------------------
def _chattr(flag: str, paths: list[Path]) -> bool:
    exe = shutil.which("chattr")
    if exe is None:
        return False
    return subprocess.run([exe, flag, *map(str, paths)], capture_output=True).returncode == 0


def test_health_turns_503_when_the_store_cannot_be_written(data_dir: Path) -> None:
    with running_daemon(data_dir) as d:
        u = d.unix()
        hb = u.post("/api/v1/targets", json={"spec": "heartbeat://h?every=1h&grace=5m"}).json()
        r = httpx.get(d.base_url + "/health")
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        assert set(r.json()["parts"]) >= {"engine", "store", "housekeeping"}
        files = [d.db_path, Path(str(d.db_path) + "-wal")]
        need(
            "chattr +i on the data directory",
            _chattr("+i", files),
            "run as root on a filesystem with attributes (ext4, xfs)",
        )
        try:
            r = httpx.get(d.base_url + "/health")
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["status"] == "failing" and body["failing"] == ["store"]
            assert body["parts"]["store"]["error"]
            assert body["parts"]["engine"]["ok"] is True
            # no ping is acknowledged while it cannot be stored
            assert httpx.get(hb["ping_url"]).status_code == 503
            r = u.post("/api/v1/targets", json={"spec": "tcp://127.0.0.1:9"})
            assert r.status_code == 503 and "store" in r.json()["error"]
        finally:
            assert _chattr("-i", files)
        r = wait_for(lambda: httpx.get(d.base_url + "/health").status_code == 200)
        assert r, httpx.get(d.base_url + "/health").text
        assert httpx.get(hb["ping_url"]).status_code == 200
        assert d.proc.poll() is None


# ---- metrics --------------------------------------------------------------------------------------
def test_metrics_parse_and_name_no_target(data_dir: Path, listener: int) -> None:
    with running_daemon(data_dir) as d:
        u = d.unix()
        web = u.post(
            "/api/v1/targets",
            json={"spec": f"tcp://127.0.0.1:{listener}", "name": "billing-web", "interval": "1h"},
        ).json()
        hb = u.post(
            "/api/v1/targets", json={"spec": "heartbeat://nightly-backup?every=1h&grace=5m"}
        ).json()
        u.post(f"/api/v1/targets/{web['id']}/check")
        assert httpx.get(hb["ping_url"]).status_code == 200
        assert wait_for(lambda: u.get(f"/api/v1/targets/{web['id']}").json()["state"] == "up")
        r = httpx.get(d.base_url + "/metrics")  # no key: Prometheus scrapes without one
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(families) >= 5, sorted(families)
    assert {
        "sysalert_probes",
        "sysalert_probe_latency_milliseconds",
        "sysalert_targets",
        "sysalert_incidents_open",
        "sysalert_outbox",
        "sysalert_pings",
    } <= set(families)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("sysalert_probes_total", (("kind", "tcp"), ("outcome", "ok")))] >= 1
    assert samples[("sysalert_pings_total", (("kind", "success"),))] >= 1
    assert samples[("sysalert_targets", (("state", "up"),))] == 2
    assert any(n == "sysalert_probe_latency_milliseconds_bucket" for n, _ in samples)
    for secret in (
        "billing-web",
        "nightly-backup",
        "127.0.0.1",
        str(listener),
        web["id"],
        hb["id"],
    ):
        assert secret not in text, secret
    for f in families.values():
        for s in f.samples:
            for v in s.labels.values():
                assert re.fullmatch(r"[a-z0-9_.+-]*|\+Inf", v), (s.name, v)


# ---- SIGHUP ---------------------------------------------------------------------------------------
DECL = """
[[targets]]
spec = "tcp://127.0.0.1:{port}"
name = "decl-a"
interval = "{interval}"

[[targets]]
spec = "heartbeat://{b}?every=1h&grace=5m"
name = "{b}"
"""


def _names(d: Daemon) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in d.unix().get("/api/v1/targets").json()}


def test_sighup_keeps_a_broken_config_and_reconciles_a_good_one(
    data_dir: Path, listener: int
) -> None:
    with running_daemon(data_dir, DECL.format(port=listener, interval="1h", b="decl-b")) as d:
        before = _names(d)
        assert set(before) == {"decl-a", "decl-b"} and all(t["declared"] for t in before.values())
        cfg = data_dir / "config.toml"
        good = cfg.read_text()
        for broken in (
            good + "\n[engine\n",
            good.replace("[engine]", "[engine]\nconcurency = 5"),
            good + '\n[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "x"\ndepends_on = "ghost"\n',
        ):
            cfg.write_text(broken)
            mark = len(d.log())
            d.signal(signal.SIGHUP)
            assert wait_for(
                lambda m=mark: "reload rejected" in d.log()[m:] or "reload failed" in d.log()[m:]
            )
            assert d.proc.poll() is None
            assert _names(d) == before
        assert httpx.get(d.base_url + "/health").status_code == 200
        assert "concurency" in d.log() and "did you mean" in d.log()  # the error names the key

        cfg.write_text(
            good.replace("decl-b", "decl-c").replace('interval = "1h"', 'interval = "1s"')
        )
        d.signal(signal.SIGHUP)
        assert wait_for(lambda: set(_names(d)) == {"decl-a", "decl-c"}), _names(d)
        after = _names(d)
        assert after["decl-a"]["id"] == before["decl-a"]["id"]  # updated in place, history kept
        assert after["decl-a"]["interval_s"] == 1.0
        assert wait_for(lambda: "config reloaded" in d.log())  # logged just after reconciling
        # the reconciled target is probed by the running engine, no restart
        assert wait_for(
            lambda: d.unix().get("/api/v1/targets/decl-a").json()["state"] == "up", timeout=5
        )
        assert d.proc.poll() is None


# ---- SIGTERM --------------------------------------------------------------------------------------
def test_sigterm_drains_and_exits_0_with_nothing_lost(data_dir: Path, listener: int) -> None:
    init_store(data_dir)
    d = start_daemon(data_dir)
    try:
        u = d.unix()
        web = u.post(
            "/api/v1/targets",
            json={"spec": f"tcp://127.0.0.1:{listener}", "name": "w", "interval": "0.5s"},
        ).json()
        slow = u.post(
            "/api/v1/targets",
            json={
                "spec": f"cmd:{sys.executable} -c 'import time; time.sleep(0.7)'",
                "name": "slow",
                "interval": "1h",
                "timeout": "5s",
            },
        ).json()
        hb = u.post("/api/v1/targets", json={"spec": "heartbeat://job?every=1h&grace=5m"}).json()
        assert wait_for(
            lambda: len(u.get(f"/api/v1/targets/{web['id']}/results").json()) >= 2, timeout=5
        )
        for _ in range(5):
            assert httpx.get(hb["ping_url"]).status_code == 200
        u.post(f"/api/v1/targets/{slow['id']}/check")

        def slow_check_running() -> bool:
            for kid in psutil.Process(d.proc.pid).children(recursive=True):
                try:
                    if "time.sleep(0.7)" in " ".join(kid.cmdline()):
                        return True
                except psutil.Error:  # it exited while we looked
                    continue
            return False

        # In flight now: its process runs (a fixed pause was too short on a loaded machine).
        assert wait_for(slow_check_running, timeout=10, step=0.01)
        seen = len(u.get(f"/api/v1/targets/{web['id']}/results", params={"limit": 1000}).json())
        # an attached console's event stream is open: it must end, not hold the exit up
        stream_ended = threading.Event()

        def watch() -> None:
            with (
                httpx.Client(transport=httpx.HTTPTransport(uds=str(d.socket_path))) as c,
                c.stream("GET", "http://sysalert/api/v1/events", timeout=10) as r,
            ):
                for _ in r.iter_lines():
                    pass
            stream_ended.set()

        def readers() -> float:
            text = httpx.get(d.base_url + "/metrics").text
            line = next(x for x in text.splitlines() if x.startswith("sysalert_event_subscribers "))
            return float(line.split()[1])

        before = readers()  # the engine's own readers (the targets page index) count too
        threading.Thread(target=watch, daemon=True).start()
        assert wait_for(lambda: readers() == before + 1)
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(10)
        took = time.monotonic() - started
    finally:
        d.stop()
    assert rc == 0, d.log()[-2000:]
    # bounded by the in-flight check (0.7 s), not by uvicorn's 3 s grace for open streams
    assert took < 3, took
    assert stream_ended.wait(2)
    assert "daemon stopped cleanly" in d.log()
    assert not d.socket_path.exists()
    with d.db() as db:
        n_web = db.execute(
            "SELECT count(*) FROM results WHERE target_id = ?", (web["id"],)
        ).fetchone()[0]
        n_hb = db.execute(
            "SELECT count(*) FROM results WHERE target_id = ?", (hb["id"],)
        ).fetchone()[0]
        slow_rows = db.execute(
            "SELECT ok FROM results WHERE target_id = ?", (slow["id"],)
        ).fetchall()
        hb_row = db.execute(
            "SELECT state, hb_state FROM targets WHERE id = ?", (hb["id"],)
        ).fetchone()
    assert n_web >= seen and n_hb == 5
    assert slow_rows == [(1,)], "the in-flight check was finished and stored"
    assert hb_row[0] == "up" and json.loads(hb_row[1])["n_pings"] == 5  # runtime state flushed


# ---- one engine per store ---------------------------------------------------------------------------
def test_second_daemon_is_refused_and_the_socket_is_private(data_dir: Path) -> None:
    with running_daemon(data_dir) as d:
        mode = os.stat(d.socket_path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
        port = free_port()
        r = subprocess.run(
            [sys.executable, "-m", "sysalert_tui", "--daemon", "--listen", f"127.0.0.1:{port}"],
            env=child_env(data_dir),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert r.returncode not in (0, None), r
        assert "already runs on this store" in r.stderr and "attach" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        # the first daemon is untouched: its socket is still there and answers
        assert d.socket_path.exists() and d.unix().get("/health").status_code == 200


def test_a_daemon_from_another_data_dir_on_the_same_database_is_refused(
    data_dir: Path, tmp_path: Path
) -> None:
    """Two data directories (or hosts) naming one database would both schedule, escalate and
    remind on the same rows: the store's own lock refuses the second engine."""
    with running_daemon(data_dir) as d:
        other = tmp_path / "other-dir"
        write_config(other, f'\n[general]\ndatabase_url = "sqlite:///{d.db_path}"\n')
        shutil.copy(data_dir / "master.key", other / "master.key")  # the same store's key
        other.chmod(0o700)
        r = subprocess.run(
            [sys.executable, "-m", "sysalert_tui", "--daemon"],
            env=child_env(other),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode not in (0, None), r
        assert "another SysAlert engine uses this database" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert d.unix().get("/health").status_code == 200  # the first runs on, untouched


def test_a_taken_port_is_one_line_and_exit_2(data_dir: Path) -> None:
    init_store(data_dir)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "sysalert_tui", "--daemon", "--listen", f"127.0.0.1:{port}"],
            env=child_env(data_dir),
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert r.returncode == 2, r.stderr
    assert "cannot listen" in r.stderr and "Traceback" not in r.stderr
    assert "daemon ready" not in r.stderr  # refused before the engine started
    assert not (data_dir / "sysalert.sock").exists()


# ---- the CLI attaches ----------------------------------------------------------------------------
def test_cli_commands_go_through_the_running_daemon(data_dir: Path, listener: int) -> None:
    with running_daemon(data_dir) as d:
        # the console script itself, once: what a cron job or the checks run
        r = sysalert(
            data_dir,
            "target",
            "add",
            f"tcp://127.0.0.1:{listener}",
            "--name",
            "web",
            "--interval",
            "1h",
            "--json",
        )
        assert r.returncode == 0, r.stderr
        web = json.loads(r.stdout)
        # Only the running engine can probe it now: a row written straight into the store would
        # wait for a restart. (A 1 h target's first probe is spread over the hour: check now.)
        rc, out, err = cli(data_dir, "target", "show", "web", "--json")
        assert rc == 0 and json.loads(out)["id"] == web["id"], err
        u = d.unix()
        u.post(f"/api/v1/targets/{web['id']}/check")
        assert wait_for(lambda: u.get("/api/v1/targets/web").json()["state"] == "up")
        rc, out, err = cli(data_dir, "status", "--json")
        assert rc == 0, err
        assert [t["state"] for t in json.loads(out)["targets"]] == ["up"]  # live, not the store's

        rc, out, err = cli(
            data_dir, "target", "add", "heartbeat://cron-job?every=1h&grace=5m", "--json"
        )
        hb = json.loads(out)
        assert hb["ping_url"].startswith(
            d.base_url + "/ping/"
        )  # the daemon's listener, not a default
        assert httpx.get(hb["ping_url"] + "/fail").status_code == 200
        inc = wait_for(
            lambda: json.loads(cli(data_dir, "incidents", "list", "--state", "firing", "--json")[1])
        )
        assert inc and inc[0]["target"] == "cron-job"
        rc, out, err = cli(data_dir, "incidents", "ack", inc[0]["id"], "--by", "bob", "--json")
        assert rc == 0, err
        assert json.loads(out)["state"] == "acknowledged"
        assert (
            u.get("/api/v1/incidents", params={"state": "acknowledged"}).json()[0]["acked_by"]
            == "bob"
        )
        rc, out, err = cli(
            data_dir, "maintenance", "on", "web", "--for", "1h", "--reason", "reboot"
        )
        assert rc == 0, err
        assert [w["target"] for w in u.get("/api/v1/maintenance").json()] == ["web"]

        rc, key, err = cli(data_dir, "apikey", "add")
        remote = ["--connect", d.base_url]
        rc, out, err = cli(data_dir, *remote, "--api-key", key.strip(), "target", "list", "--json")
        assert rc == 0, err
        assert {t["name"] for t in json.loads(out)} == {"web", "cron-job"}
        rc, out, err = cli(data_dir, *remote, "--api-key", "sak_wrong", "target", "list")
        assert rc == 2 and "API key" in err
        assert "--api-key" in err and "X-API-Key" not in err, err  # the CLI's words, not HTTP's
        rc, out, err = cli(data_dir, "target", "remove", "web")
        assert rc == 0, err
        assert wait_for(lambda: "web" not in _names(d))
