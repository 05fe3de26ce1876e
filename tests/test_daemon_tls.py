"""`[api] tls_cert` / `tls_key`: the TCP listener speaks HTTPS, pings keep their fast path.

A real daemon with a certificate from a throwaway CA (trustme); clients verify it as a
monitoring system or a cron job's curl would.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from tests.conftest import free_port
from tests.daemon_harness import ROOT, child_env, init_store, sysalert


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_daemon(
    tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("tls") / "data"
    data.mkdir(parents=True)
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(data / "server.pem"))
    init_store(
        data, f'[api]\ntls_cert = "{data / "server.pem"}"\ntls_key = "{data / "server.pem"}"\n'
    )
    port = free_port()
    log_path = data.parent / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sysalert_tui", "--daemon", "--listen", f"127.0.0.1:{port}"],
            env=child_env(data),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    base = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log_path.read_text()
        try:
            if httpx.get(base + "/health", verify=ctx, timeout=1).status_code in (200, 503):
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    try:
        yield {"data": data, "base": base, "ctx": ctx, "port": port, "log": log_path}
    finally:
        proc.terminate()
        proc.wait(15)


def test_https_serves_health_api_and_pings_through_the_fast_path(
    tls_daemon: dict[str, Any],
) -> None:
    data, base, ctx = tls_daemon["data"], tls_daemon["base"], tls_daemon["ctx"]
    r = sysalert(data, "apikey", "add", "--label", "tls")
    key = r.stdout.strip()
    added = sysalert(data, "target", "add", "heartbeat://tls-job?every=1h", "--json")
    assert added.returncode == 0, added.stderr
    import json

    ping_url = json.loads(added.stdout)["ping_url"]
    assert ping_url.startswith(f"https://127.0.0.1:{tls_daemon['port']}/ping/")  # shown as https
    with httpx.Client(verify=ctx, timeout=10) as c:
        assert c.get(base + "/health").json()["status"] in ("ok", "failing")
        assert c.get(base + "/api/v1/targets").status_code == 401
        targets = c.get(base + "/api/v1/targets", headers={"X-API-Key": key})
        assert targets.status_code == 200 and any(t["name"] == "tls-job" for t in targets.json())
        for _ in range(20):  # keep-alive: many pings on one TLS connection
            p = c.get(ping_url)
            assert (p.status_code, p.text) == (200, "OK")
        assert c.head(ping_url).status_code == 200
        # A log over 100 kB is recorded all the same, and the connection carries on after it.
        assert c.post(ping_url + "/fail", content=b"x" * 150_000).status_code == 200
        assert c.get(ping_url.rsplit("/", 1)[0] + "/not-a-real-token/256").status_code == 404
    state = json.loads(sysalert(data, "target", "show", "tls-job", "--json").stdout)
    assert state["state"] == "down"  # the /fail ping was stored and applied


def test_plain_http_and_an_untrusted_client_get_nothing(tls_daemon: dict[str, Any]) -> None:
    port = tls_daemon["port"]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{tls_daemon['base']}/health", timeout=5)  # the system CAs do not know ours
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert r.status_code == 400  # uvicorn's answer to cleartext on a TLS port, if any
    except httpx.TransportError:
        pass


def test_bad_tls_files_are_one_line_and_exit_2(tmp_path: Path, ca: trustme.CA) -> None:
    data = tmp_path / "data"
    init_store(data)
    cfg = data / "config.toml"
    base = cfg.read_text()
    other = ca.issue_cert("127.0.0.1")
    other.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cases = {
        f'[api]\ntls_cert = "{tmp_path / "cert.pem"}"\n': "go together",
        f'[api]\ntls_cert = "{tmp_path / "nope.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\n': (
            "cannot be used"
        ),
        f'[api]\ntls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\n': (
            "cannot be used"  # a key that is not the certificate's
        ),
    }
    for extra, said in cases.items():
        cfg.write_text(base + extra)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "sysalert_tui",
                "--daemon",
                "--listen",
                f"127.0.0.1:{free_port()}",
            ],
            env=child_env(data),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert out.returncode == 2, (extra, out.stderr)
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("sysalert:")]
        assert len(lines) == 1 and said in lines[0], out.stderr
        assert "Traceback" not in out.stderr
