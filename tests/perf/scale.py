"""The operator's view at N targets (issue 17), measured from outside with the real commands.

    python -m tests.perf.scale [--targets N] [--settle S] [--check] [--budget NAME=LIMIT]

N (default 100,000, or SYSALERT_SCALE_N) TCP targets every 30 s against loopback listeners in
another process, written to a TOML file and imported with `sysalert import`; then the real daemon
(`sysalert --daemon --listen`) is started on that store and left to settle for S seconds. Measured,
each beside a baseline from the same run where one exists:

- `import_s`: `sysalert import` of the file; baseline `toml_parse_s`, reading that file with
  tomllib and nothing else (`import_ratio`);
- `status_s`: `sysalert status --json` attached to the daemon, its output checked (every target
  once); baseline `bare_read_s`, reading every row of the targets table with sqlite3
  (`status_ratio`); `list_s`: `sysalert target list --json` the same way;
- `rss_mb`: the daemon's VmRSS after settling; `rss_answering_mb`: the highest VmRSS sampled
  every 20 ms while it answers `status --json`;
- `cpu_per_check_ms`: the daemon's CPU time (utime + stime from /proc) over 20 s divided by the
  checks it made meanwhile (sysalert_probes_total from /metrics);
- `first_row_s`: the console (`sysalert`, attached, in tmux at 120x40) from the start of the
  process until a target row is on screen; `app_up_s` until its chrome (the title) is, and
  `first_row_after_app_s` the difference, which the goal is about.

The last line is one JSON object with the budgets; `--check` exits 1 when a figure misses one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.perf.common import Budget, add_check_flags, finish, start_listeners, temp_env


def budgets(n: int) -> dict[str, Budget]:
    """Issue 17's goals on a 2-core machine; the import's scales with N (30 s per 100,000)."""
    return {
        "import_s": ("<=", round(30.0 * max(n, 1000) / 100_000, 1)),
        "status_s": ("<=", 2.0),
        "rss_mb": ("<=", 500.0),
        "rss_answering_mb": ("<=", 600.0),
        "first_row_after_app_s": ("<=", 0.5),
        "cpu_per_check_ms": ("<=", 0.2),
    }


def sysalert(*args: str) -> list[str]:
    return [sys.executable, "-m", "sysalert_tui", *args]


def write_targets(path: Path, n: int, ports: list[int]) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(
                f'[[targets]]\nspec = "tcp://127.0.0.1:{ports[i % len(ports)]}"\n'
                f'name = "scale-{i:06d}"\ninterval = "30s"\n\n'
            )


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def vm(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probes(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sysalert_probes_total{")
    )


@contextlib.contextmanager
def peak_vm(pid: int | None) -> Iterator[list[float]]:
    """While the block runs, the highest VmRSS of `pid` (sampled every 20 ms) in `[0]`."""
    peak = [vm(pid) if pid else 0.0]
    done = threading.Event()

    def sample() -> None:
        while pid and not done.wait(0.02):
            try:
                peak[0] = max(peak[0], vm(pid))
            except OSError:
                return

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield peak
    finally:
        done.set()
        t.join()


def timed(
    cmd: list[str], env: dict[str, str], pid: int | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, str, float]:
    """Run a CLI command; (seconds, stdout, highest VmRSS of `pid` meanwhile)."""
    with peak_vm(pid) as peak:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        took = time.perf_counter() - t0
    if r.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[3:])} failed: {(r.stderr or r.stdout)[-300:]}")
    return took, r.stdout, peak[0]


def console_first_row(env: dict[str, str], timeout: float = 120.0) -> tuple[float | None, ...]:
    """The console in tmux (120x40): seconds to its chrome and to the first target row."""
    tmux = shutil.which("tmux")
    if tmux is None:
        raise SystemExit("tmux is needed for the console figure (apt-get install tmux)")
    sess = f"scale{os.getpid()}"
    tenv = dict(env, TMUX_TMPDIR=tempfile.mkdtemp(prefix="sysalert-tmux-"))
    keep = ("SYSALERT_DATA_DIR", "SYSALERT_CONFIG", "SYSALERT_MASTER_KEY", "HOME", "PYTHONPATH")
    prefix = " ".join(f"{k}={env[k]}" for k in keep if k in env)
    cmd = f"env {prefix} {' '.join(sysalert())}"
    chrome = row = None
    t0 = time.perf_counter()
    subprocess.run([tmux, "new-session", "-d", "-s", sess, "-x", "120", "-y", "40", cmd], env=tenv)
    try:
        while time.perf_counter() - t0 < timeout and row is None:
            screen = subprocess.run(
                [tmux, "capture-pane", "-p", "-t", sess], env=tenv, capture_output=True, text=True
            ).stdout
            if chrome is None and "SysAlert" in screen:
                chrome = time.perf_counter() - t0
            if "scale-0" in screen:
                row = time.perf_counter() - t0
            time.sleep(0.02)
    finally:
        subprocess.run([tmux, "kill-session", "-t", sess], env=tenv, capture_output=True)
    return chrome, row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_n = int(os.environ.get("SYSALERT_SCALE_N", "100000"))
    ap.add_argument("--targets", type=int, default=default_n)
    ap.add_argument("--settle", type=float, default=45.0, help="seconds the daemon runs first")
    add_check_flags(ap)
    args = ap.parse_args()
    n = args.targets
    data, _ = temp_env()
    env = dict(os.environ, HOME=str(data / "home"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    (data / "home").mkdir(parents=True)
    listeners, ports = start_listeners(16)
    daemon = None
    out: dict[str, Any] = {"targets": n}
    try:
        subprocess.run(sysalert("init"), env=env, capture_output=True, check=True)
        path = data / "targets.toml"
        write_targets(path, n, ports)
        t0 = time.perf_counter()
        tomllib.loads(path.read_text())
        out["toml_parse_s"] = round(time.perf_counter() - t0, 2)
        took, text, _ = timed(sysalert("import", str(path)), env)
        out["import_s"] = round(took, 1)
        out["import_ratio"] = round(took / max(out["toml_parse_s"], 1e-3), 1)
        assert f"{n} added" in text, text

        t0 = time.perf_counter()
        with sqlite3.connect(data / "sysalert.db") as db:
            rows = db.execute("SELECT * FROM targets").fetchall()
        out["bare_read_s"] = round(time.perf_counter() - t0, 3)
        assert len(rows) == n + 3

        port = free_port()
        daemon = subprocess.Popen(
            sysalert("--daemon", "--listen", f"127.0.0.1:{port}"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(data / "daemon.log", "ab"),  # noqa: SIM115 - lives as long as the daemon
            start_new_session=True,
        )
        t0 = time.perf_counter()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > 300 or daemon.poll() is not None:
                raise SystemExit("the daemon did not answer /health within 300 s")
            time.sleep(0.5)
        out["daemon_ready_s"] = round(time.perf_counter() - t0, 1)
        time.sleep(args.settle)
        out["rss_mb"] = round(vm(daemon.pid))

        c0, p0 = cpu_s(daemon.pid), probes(port)
        time.sleep(20.0)
        c1, p1 = cpu_s(daemon.pid), probes(port)
        out["checks_per_s"] = round((p1 - p0) / 20.0)
        out["cpu_per_check_ms"] = round(1000 * (c1 - c0) / max(p1 - p0, 1), 3)

        took, text, peak = timed(sysalert("status", "--json"), env, daemon.pid, (0, 1))
        doc = json.loads(text)
        assert len({t["id"] for t in doc["targets"]}) == n + 3, len(doc["targets"])
        out["status_s"] = round(took, 2)
        out["status_ratio"] = round(took / max(out["bare_read_s"], 1e-3), 1)
        out["rss_answering_mb"] = round(peak)
        took, text, peak = timed(sysalert("target", "list", "--json"), env, daemon.pid)
        assert len(json.loads(text)) == n + 3
        out["list_s"] = round(took, 2)
        out["rss_answering_mb"] = round(max(peak, out["rss_answering_mb"]))

        chrome, row = console_first_row(env)
        out["app_up_s"] = chrome and round(chrome, 2)
        out["first_row_s"] = row and round(row, 2)
        if chrome is not None and row is not None:
            out["first_row_after_app_s"] = round(max(0.0, row - chrome), 2)
        out["rss_after_mb"] = round(vm(daemon.pid))
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        listeners.kill()
        shutil.rmtree(data, ignore_errors=True)
    return finish(out, budgets(n), args)


if __name__ == "__main__":
    sys.exit(main())
