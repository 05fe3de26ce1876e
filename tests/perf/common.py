"""Helpers shared by the perf scripts: listeners in another process, a temp store, RSS."""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LISTENER = r"""
import asyncio, sys
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
class P(asyncio.Protocol):
    def connection_made(self, t): t.close()
async def main(n):
    loop = asyncio.get_running_loop()
    ports = []
    for _ in range(n):
        srv = await loop.create_server(P, "127.0.0.1", 0, backlog=4096, reuse_address=True)
        ports.append(srv.sockets[0].getsockname()[1])
    print(" ".join(map(str, ports)), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main(int(sys.argv[1])))
"""


def start_listeners(n: int = 16) -> tuple[subprocess.Popen[str], list[int]]:
    """Loopback TCP listeners (accept and close) in a separate process, so they cost us no CPU."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER, str(n)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    ports = [int(p) for p in proc.stdout.readline().split()]
    return proc, ports


def temp_env() -> tuple[Path, dict[str, str]]:
    d = Path(tempfile.mkdtemp(prefix="sysalert-perf-"))
    key = base64.b64encode(os.urandom(32)).decode()
    env = {
        "SYSALERT_DATA_DIR": str(d),
        "SYSALERT_MASTER_KEY": key,
        "SYSALERT_CONFIG": str(d / "config.toml"),
    }
    os.environ.update(env)
    return d, env


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(summary: dict[str, object]) -> None:
    for k, v in summary.items():
        print(f"{k:>24}: {v}", file=sys.stderr)
    print(json.dumps(summary), flush=True)


def now() -> float:
    return time.perf_counter()


def unique_ids(n: int) -> list[str]:
    """n distinct target ids. 8 random letters collide by chance at this scale (100,000 of them
    about once in sixteen tries), and a bulk insert does not go through `Store.fresh_id`."""
    from engine.store.store import new_id

    ids: set[str] = set()
    while len(ids) < n:
        ids.add(new_id())
    return list(ids)
