"""Watch the watcher: daemon B pings daemon A's heartbeat through `[watchdog] url`. A's heartbeat
is up while B is healthy, down while B's /health is 503 (B sends /fail), up again when B recovers,
and down once B is killed. The URL's token never reaches B's log or /health."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from engine.runtime.watchdog import fail_url
from tests.conftest import free_port
from tests.daemon_harness import init_store, start_daemon, sysalert, wait_for

pytestmark = pytest.mark.slow


def beat_state(data_dir: Path, name: str) -> str | None:
    r = sysalert(data_dir, "target", "show", name, "--json")
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    return d.get("state") or d.get("target", {}).get("state")


def test_a_second_daemon_pings_while_healthy_fails_while_red_and_is_missed_when_dead(
    tmp_path: Path,
) -> None:
    a_dir, b_dir = tmp_path / "a" / "data", tmp_path / "b" / "data"
    init_store(a_dir)
    a = start_daemon(a_dir)
    b = None
    try:
        out = sysalert(a_dir, "target", "add", "heartbeat://watch-b?every=2s&grace=1s",
                       "--name", "watch-b", "--json")  # fmt: skip
        assert out.returncode == 0, out.stderr
        ping_url = json.loads(out.stdout)["ping_url"]
        token = urlparse(ping_url).path.rsplit("/", 1)[-1]
        url = f"http://127.0.0.1:{a.port}{urlparse(ping_url).path}"
        init_store(b_dir, f'\n[watchdog]\nurl = "{url}"\nevery = "1s"\n')
        # B starts with its escalation loop crashing 3 times (about 12 s red): A hears /fail.
        b = start_daemon(b_dir, env={"SYSALERT_FAULT": "raise:escalation:3"})
        assert httpx.get(f"{b.base_url}/health").status_code == 503
        assert wait_for(lambda: beat_state(a_dir, "watch-b") == "down", timeout=20, step=0.3)
        assert wait_for(lambda: beat_state(a_dir, "watch-b") == "up", timeout=40, step=0.3), (
            b.log()[-2000:]
        )
        h = httpx.get(f"{b.base_url}/health").json()
        assert h["status"] == "ok" and h["parts"]["watchdog"]["sent"] == "up"
        assert h["parts"]["watchdog"]["error"] is None
        assert token not in json.dumps(h)
        assert token not in b.log() and str(a.port) not in b.log()

        b.signal(signal.SIGKILL)  # B dies without a word: A's heartbeat misses it
        b.wait(10)
        t0 = time.monotonic()
        assert wait_for(lambda: beat_state(a_dir, "watch-b") == "down", timeout=20, step=0.3)
        assert time.monotonic() - t0 < 15
    finally:
        if b is not None:
            b.stop()
        a.stop()


def test_an_unreachable_watchdog_is_detail_not_a_503_and_its_url_stays_secret(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()  # nothing listens here
    init_store(
        data_dir, f'\n[watchdog]\nurl = "http://127.0.0.1:{port}/ping/s3cr3t-t0ken"\nevery = "1s"\n'
    )
    d = start_daemon(data_dir)
    try:

        def failed() -> dict | None:
            body = httpx.get(f"{d.base_url}/health").json()
            return body if body["parts"]["watchdog"]["error"] else None

        body = wait_for(failed, timeout=15)
        assert body, httpx.get(f"{d.base_url}/health").json()
        assert body["status"] == "ok" and body["parts"]["watchdog"]["error"] == "ConnectError"
        assert httpx.get(f"{d.base_url}/health").status_code == 200
        time.sleep(2.5)
        log = d.log()
        assert "watchdog: the ping (up) did not arrive: ConnectError" in log
        assert log.count("did not arrive") == 1  # once per change, not every second
        assert "s3cr3t" not in log and str(port) not in log
    finally:
        d.stop()


@pytest.mark.parametrize(
    ("conf", "says"),
    [
        ('url = "ftp://example.com/x"', "watchdog.url must be an http:// or https:// ping URL"),
        ('url = "http://example.com/ping/x"\nevery = "0s"', "watchdog.every must be at least 1s"),
        ('every = "often"', "not a duration"),
        ('urls = "http://example.com/"', "did you mean 'url'?"),
    ],
)
def test_bad_watchdog_settings_get_one_clear_line(tmp_path: Path, conf: str, says: str) -> None:
    data_dir = tmp_path / "data"
    init_store(data_dir)
    cfg = data_dir / "config.toml"
    cfg.write_text(cfg.read_text() + f"\n[watchdog]\n{conf}\n")
    r = sysalert(data_dir, "status")
    assert r.returncode == 2, r.stdout + r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    assert "ftp://example.com" not in r.stderr  # a URL's value is never echoed back


def test_fail_url_keeps_the_query() -> None:
    assert fail_url("https://hc-ping.com/abc?rid=1") == "https://hc-ping.com/abc/fail?rid=1"
    assert fail_url("http://h:1/ping/t/") == "http://h:1/ping/t/fail"
