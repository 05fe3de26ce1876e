"""Durable heartbeat pings per second through the real daemon, next to a bare ASGI endpoint on the
same server stack (uvicorn, httptools, uvloop) that only answers 200, measured in the same run.

    python -m tests.perf.ping_rate [--seconds S] [--concurrency C] [--targets N] [--check]

A ping counts only when answered 200, and the daemon answers only after the group commit that
stores it. After the run the script checks that the store holds at least that many pings. The
daemon and the bare server take turns in short slices under the same load generator.
Last line: JSON with pings_per_s, bare_per_s, ratio, p99_ms and the budgets; `--check` exits 1
when a figure misses one (a run whose 200s are not all in the store is never a pass).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.perf.common import Budget, add_check_flags, finish, temp_env, unique_ids

BUDGETS: dict[str, Budget] = {
    "pings_per_s": (">=", 10_000),  # DESIGN 7: "aim for 10,000 durable pings/s"
    "durable": ("==", 1),  # every ping answered 200 is in the store
}

BARE = r"""
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"OK"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, http="httptools", loop="uvloop", lifespan="off")
"""


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return int(p)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit("server did not come up")


def make_targets(n: int) -> list[str]:
    from engine.config.settings import load_settings
    from engine.core.domain import TargetRecord
    from engine.heartbeats.heartbeat import new_token
    from engine.security.crypto import load_key_ring
    from engine.store.store import Store
    from engine.store.targets import to_row

    settings = load_settings()
    store = Store.open(settings.database_url, load_key_ring(settings.data_dir))
    tokens = []
    with store.session() as s:
        ids = unique_ids(n)
        for i in range(n):
            tok = new_token()
            tokens.append(tok)
            rec = TargetRecord(
                id=ids[i],
                name=f"hb{i}",
                spec_text=f"heartbeat://hb{i}?every=1h&grace=5m",
                kind="heartbeat",
                interval_s=60.0,
                token=tok,
            )
            s.add(to_row(store, rec))
        s.commit()
    store.close()
    return tokens


def load(port: int, paths: Path, concurrency: int, seconds: float) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.perf.loadgen",
            str(port),
            str(concurrency),
            str(seconds),
            str(paths),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--targets", type=int, default=1000)
    add_check_flags(ap)
    a = ap.parse_args()
    data, env = temp_env()
    (data / "config.toml").write_text("[engine]\nseed_local_targets = false\n")
    tokens = make_targets(a.targets)
    paths = data / "paths.txt"
    paths.write_text("\n".join(f"/ping/{t}" for t in tokens))
    port = free_port()
    full_env = {**os.environ, **env, "SYSALERT_LOG_LEVEL": "ERROR"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "sysalert_tui", "--daemon", "--listen", f"127.0.0.1:{port}"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    bport = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-c", BARE, str(bport)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The two servers take turns under the same load in short slices, so that noise from other
    # processes on the machine hits both alike.
    slices = max(2, int(a.seconds // 2))
    per = a.seconds / (2 * slices)
    ours: dict[str, float] = {"requests": 0, "ok": 0, "t": 0.0, "p99": 0.0}
    base: dict[str, float] = {"requests": 0, "t": 0.0, "p99": 0.0}
    try:
        wait_http(f"http://127.0.0.1:{port}/health", daemon)
        wait_http(f"http://127.0.0.1:{bport}/", bare)
        for _ in range(slices):
            r = load(port, paths, a.concurrency, per)
            ours["requests"] += int(r["requests"])  # type: ignore[arg-type]
            ours["ok"] += int(r["codes"].get("200", 0))  # type: ignore[union-attr]
            ours["t"] += int(r["requests"]) / float(r["per_s"])  # type: ignore[arg-type]
            ours["p99"] = max(ours["p99"], float(r["p99_ms"] or 0))  # type: ignore[arg-type]
            b = load(bport, paths, a.concurrency, per)
            base["requests"] += int(b["requests"])  # type: ignore[arg-type]
            base["t"] += int(b["requests"]) / float(b["per_s"])  # type: ignore[arg-type]
            base["p99"] = max(base["p99"], float(b["p99_ms"] or 0))  # type: ignore[arg-type]
    finally:
        daemon.terminate()
        daemon.wait(20)
        bare.terminate()
        bare.wait(10)
    ok = int(ours["ok"])
    db = sqlite3.connect(data / "sysalert.db")
    stored = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    db.close()
    pings_per_s = ok / ours["t"] if ours["t"] else 0.0
    bare_per_s = base["requests"] / base["t"] if base["t"] else 0.0
    summary: dict[str, object] = {
        "targets": a.targets,
        "concurrency": a.concurrency,
        "slices": slices,
        "pings_ok": ok,
        "pings_stored": stored,
        "durable": ok > 0 and stored >= ok,
        "pings_per_s": round(pings_per_s, 1),
        "bare_per_s": round(bare_per_s, 1),
        "ratio": round(pings_per_s / bare_per_s, 3) if bare_per_s else 0.0,
        "p99_ms": round(ours["p99"], 2),
        "bare_p99_ms": round(base["p99"], 2),
    }
    sys.exit(finish(summary, BUDGETS, a))


if __name__ == "__main__":
    main()
