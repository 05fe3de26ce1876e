"""`sysalert import` and `export` at N targets (issue 17), measured from outside with the real CLI.

    python -m tests.perf.targets_io [--targets N] [--check] [--budget NAME=LIMIT]

N (default 100,000, or SYSALERT_SCALE_N) TCP targets (every 24 h, against loopback listeners)
written to a TOML file; the real daemon (`sysalert --daemon`) started on an empty store; then:

- `import_s`: `sysalert import FILE` attached to the daemon (checked in the CLI, sent in parts
  below [api] max_body); baseline `toml_parse_s`, tomllib reading the file and nothing else;
  `import_cli_rss_mb` the CLI's peak RSS, `import_daemon_rss_mb` the daemon's highest VmRSS
  meanwhile (sampled every 20 ms);
- `export_s`, `export_first_byte_s`: `sysalert export` while the daemon runs (it reads the store
  itself: an export holds every password, which the API never answers with), its output checked
  (N [[targets]] blocks); baseline `bare_read_s`, every row of the targets table read with
  sqlite3, and `baseline_export_s`, the same CLI exporting an empty store (start-up, imports, key
  check: what the first byte waits for); `export_cli_rss_mb` its peak RSS, beside
  `baseline_cli_rss_mb`, that empty export's (`export_rss_ratio`); `export_daemon_rss_mb` the daemon's highest
  VmRSS meanwhile, beside `daemon_rss_before_export_mb`;
- `export_embedded_s`, `export_embedded_cli_rss_mb`: the same with the daemon stopped.

The last line is one JSON object with the budgets; `--check` exits 1 when a figure misses one.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

from tests.perf.common import Budget, add_check_flags, finish, start_listeners, temp_env
from tests.perf.scale import free_port, peak_vm, vm

# The CLI in a wrapper that writes its peak RSS (ru_maxrss, KiB) to the file named first.
WRAP = """
import resource, sys
from sysalert_tui.cli import main
try:
    rc = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(rc)
"""


def budgets(n: int) -> dict[str, Budget]:
    """Issue 17: the import within 30 s per 100,000; export's memory flat (its peak within half
    again the same CLI exporting an empty store)."""
    return {
        "import_s": ("<=", round(30.0 * max(n, 1000) / 100_000, 1)),
        "export_rss_ratio": ("<=", 1.5),
    }


def write_targets(path: Path, n: int, ports: list[int]) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(
                f'[[targets]]\nspec = "tcp://127.0.0.1:{ports[i % len(ports)]}"\n'
                f'name = "io-{i:06d}"\ninterval = "24h"\ntags = ["rack-{i % 40}"]\n\n'
            )


def run_cli(
    args: list[str], env: dict[str, str], watch: int | None = None
) -> tuple[float, float, str, float, float]:
    """(seconds, seconds to the first byte on stdout, stdout, the CLI's peak RSS in MB, the
    highest VmRSS of `watch` meanwhile)."""
    rss_file = Path(tempfile.mkstemp(prefix="sysalert-rss-")[1])
    with peak_vm(watch) as peak:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAP, str(rss_file), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.read(1)
        first_s = time.perf_counter() - t0
        out = first + proc.stdout.read()
        err = proc.stderr.read()
        rc = proc.wait()
        took = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{' '.join(args)} failed: {err.decode()[-300:]}")
    rss = int(rss_file.read_text() or 0) / 1024
    rss_file.unlink()
    return took, first_s, out.decode(), rss, peak[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--targets", type=int, default=int(os.environ.get("SYSALERT_SCALE_N", "100000"))
    )
    add_check_flags(ap)
    args = ap.parse_args()
    n = args.targets
    data, _ = temp_env()
    env = dict(os.environ, HOME=str(data / "home"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    (data / "home").mkdir(parents=True)
    (data / "config.toml").write_text("[engine]\nseed_local_targets = false\n")
    empty = data / "empty"
    empty.mkdir()
    (empty / "config.toml").write_text("[engine]\nseed_local_targets = false\n")
    empty_env = dict(
        env,
        SYSALERT_DATA_DIR=str(empty),
        SYSALERT_CONFIG=str(empty / "config.toml"),
        SYSALERT_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    listeners, ports = start_listeners(16)
    daemon = None
    out: dict[str, Any] = {"targets": n}
    try:
        for e in (env, empty_env):
            subprocess.run(sysalert("init"), env=e, capture_output=True, check=True)
        path = data / "targets.toml"
        write_targets(path, n, ports)
        t0 = time.perf_counter()
        tomllib.loads(path.read_text())
        out["toml_parse_s"] = round(time.perf_counter() - t0, 2)

        port = free_port()
        daemon = subprocess.Popen(
            sysalert("--daemon", "--listen", f"127.0.0.1:{port}"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(data / "daemon.log", "ab"),  # noqa: SIM115 - lives as long as the daemon
            start_new_session=True,
        )
        wait_health(port, daemon)
        took, _, text, rss, peak = run_cli(["import", str(path)], env, daemon.pid)
        assert text.strip() == f"imported: {n} added, 0 updated, 0 unchanged", text
        out["import_s"] = round(took, 1)
        out["import_ratio"] = round(took / max(out["toml_parse_s"], 1e-3), 1)
        out["import_cli_rss_mb"] = round(rss)
        out["import_daemon_rss_mb"] = round(peak)

        t0 = time.perf_counter()
        with sqlite3.connect(data / "sysalert.db") as db:
            rows = db.execute("SELECT * FROM targets").fetchall()
        out["bare_read_s"] = round(time.perf_counter() - t0, 3)
        assert len(rows) == n
        del rows

        base_s, _, _, base_rss, _ = run_cli(["export"], empty_env)
        out["baseline_export_s"] = round(base_s, 2)
        out["baseline_cli_rss_mb"] = round(base_rss)
        out["daemon_rss_before_export_mb"] = round(vm(daemon.pid))
        took, first, text, rss, peak = run_cli(["export"], env, daemon.pid)
        assert text.count("[[targets]]\n") == n, text[-300:]
        out["export_s"] = round(took, 2)
        out["export_first_byte_s"] = round(first, 2)
        out["export_ratio"] = round(took / max(out["bare_read_s"], 1e-3), 1)
        out["export_cli_rss_mb"] = round(rss)
        out["export_rss_ratio"] = round(rss / max(base_rss, 1.0), 2)
        out["export_daemon_rss_mb"] = round(peak)

        stop(daemon)
        daemon = None
        took, first, text, rss, _ = run_cli(["export"], env)
        assert text.count("[[targets]]\n") == n
        out["export_embedded_s"] = round(took, 2)
        out["export_embedded_first_byte_s"] = round(first, 2)
        out["export_embedded_cli_rss_mb"] = round(rss)
    finally:
        if daemon is not None:
            stop(daemon)
        listeners.kill()
        shutil.rmtree(data, ignore_errors=True)
    return finish(out, budgets(n), args)


def sysalert(*args: str) -> list[str]:
    return [sys.executable, "-m", "sysalert_tui", *args]


def wait_health(port: int, daemon: subprocess.Popen[bytes]) -> None:
    t0 = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() - t0 > 120 or daemon.poll() is not None:
            raise SystemExit("the daemon did not answer /health within 120 s")
        time.sleep(0.3)


def stop(daemon: subprocess.Popen[bytes]) -> None:
    daemon.terminate()
    try:
        daemon.wait(60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


if __name__ == "__main__":
    sys.exit(main())
