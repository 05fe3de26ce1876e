"""Deployment files: the systemd unit and the container file say what the README promises.

No container engine runs here, so the Containerfile is parsed, not built; its entrypoint and its
health-check command are run for real. The unit is checked by `systemd-analyze verify` when that
tool exists (with the sysalert path pointed at an existing binary).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "sysalert.service"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def unit_keys() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, _, v = line.partition("=")
        keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), " ".join(rest.split())))
    return out


def test_unit_is_hardened_and_complete() -> None:
    k = unit_keys()
    one = {key: v[-1] for key, v in k.items()}
    assert one["DynamicUser"] == "yes" or one.get("User") not in (None, "root")
    assert one["StateDirectory"] == "sysalert"
    assert "SYSALERT_DATA_DIR=/var/lib/sysalert" in k["Environment"]
    for key, want in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "KillSignal": "SIGTERM",
        "TimeoutStopSec": "15",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }.items():
        assert one[key] == want, key
    assert set(one["RestrictAddressFamilies"].split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }
    assert (
        one["CapabilityBoundingSet"] == ""
    )  # ICMP uses ping sockets (ping_group_range), no CAP_NET_RAW
    assert shlex.split(one["ExecStart"])[1:3] == ["--daemon", "--listen"]
    assert shlex.split(one["ExecStartPre"])[1:] == ["init"]
    assert one["WantedBy"] == "multi-user.target"


@pytest.mark.needs("systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "sysalert.service"
    unit.write_text(
        UNIT.read_text().replace("/usr/local/bin/sysalert", shutil.which("true") or "/bin/true")
    )
    r = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0 and "sysalert.service" not in r.stderr, r.stderr


def test_containerfile_runs_the_daemon_as_non_root_with_a_health_check() -> None:
    ins = instructions()
    by: dict[str, list[str]] = {}
    for op, args in ins:
        by.setdefault(op, []).append(args)
    assert by["FROM"] == ["python:3.11-slim"]
    assert any(a.startswith("pip install .") for a in by["RUN"])
    user = by["USER"][-1].split(":")[0]
    assert user not in ("0", "root")
    assert [op for op, _ in ins].index("USER") > max(
        i for i, (op, _) in enumerate(ins) if op == "RUN"
    )
    assert by["VOLUME"] == ["/data"]
    assert "SYSALERT_DATA_DIR=/data" in by["ENV"]
    assert json.loads(by["CMD"][-1]) == ["sysalert", "--daemon", "--listen", "0.0.0.0:8787"]
    assert json.loads(by["ENTRYPOINT"][-1]) == ["sysalert-entrypoint"]
    (hc,) = by["HEALTHCHECK"]
    assert "CMD" in hc and "/health" in hc and "urllib" in hc
    for _, args in (x for x in ins if x[0] == "COPY"):
        for src in args.split()[:-1]:
            assert (ROOT / src).exists(), src  # everything copied exists in the project


def _healthcheck_argv(port: int) -> list[str]:
    hc = dict(instructions())["HEALTHCHECK"]
    argv = json.loads(hc[hc.index("CMD") + 3 :].strip())
    assert argv[0] == "python"
    return [sys.executable, *[a.replace(":8787/", f":{port}/") for a in argv[1:]]]


def test_healthcheck_command_passes_on_200_and_fails_on_503() -> None:
    status = {"code": 200}

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(status["code"] if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        argv = _healthcheck_argv(srv.server_address[1])
        assert subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
        status["code"] = 503
        assert subprocess.run(argv, capture_output=True, timeout=20).returncode != 0
    finally:
        srv.shutdown()


def test_entrypoint_initialises_an_empty_volume_once(tmp_path: Path) -> None:
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0
    assert os.access(ENTRYPOINT, os.X_OK)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sysalert").write_text(f'#!/bin/sh\nexec {sys.executable} -m sysalert_tui "$@"\n')
    (bindir / "sysalert").chmod(0o755)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSALERT_")}
    env.update(PATH=f"{bindir}:{env['PATH']}", SYSALERT_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    first = subprocess.run(
        [str(ENTRYPOINT), "echo", "started"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert first.returncode == 0, first.stderr
    assert "master key" in first.stdout and first.stdout.rstrip().endswith("started")
    assert (data / "config.toml").is_file()
    assert oct((data / "master.key").stat().st_mode & 0o777) == "0o600"
    key = (data / "master.key").read_bytes()
    second = subprocess.run(
        [str(ENTRYPOINT), "echo", "again"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert second.returncode == 0 and second.stdout == "again\n", second
    assert (data / "master.key").read_bytes() == key
