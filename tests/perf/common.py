"""Helpers shared by the perf scripts: listeners in another process, a temp store, RSS."""

from __future__ import annotations

import argparse
import base64
import json
import operator
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


# A budget: (comparison, limit). Each script keeps its own, taken from DESIGN.md or the README's
# Performance section, and says where each comes from.
Budget = tuple[str, float]
_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


def add_check_flags(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a figure misses its budget (the JSON line lists budgets and misses)",
    )
    ap.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="NAME=LIMIT",
        help="replace one budget's limit, for a machine unlike the one the figures came from",
    )


def finish(summary: dict[str, object], budgets: dict[str, Budget], args: argparse.Namespace) -> int:
    """Print the summary with its budgets and what missed them (last line: JSON); the exit code:
    1 when --check is given and a figure misses, else 0."""
    budgets = dict(budgets)
    for item in args.budget:
        name, _, value = item.partition("=")
        if name not in budgets:
            raise SystemExit(f"--budget {item}: no budget named {name!r} ({', '.join(budgets)})")
        budgets[name] = (budgets[name][0], float(value))
    missed = []
    for name, (op, limit) in budgets.items():
        got = summary.get(name)
        if not isinstance(got, int | float) or not _OPS[op](got, limit):
            missed.append(f"{name} {got} (budget {op} {limit})")
    summary["budget"] = {name: f"{op} {limit}" for name, (op, limit) in budgets.items()}
    summary["missed"] = missed
    emit(summary)
    return 1 if args.check and missed else 0


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
