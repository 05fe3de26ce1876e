"""Several engines on the local PostgreSQL sharing N targets: the cost of claiming, failover after
kill -9, and duplicates counted on the receiving side.

    python -m tests.perf.cluster [--targets 200] [--engines 2] [--interval 1] [--check]

Phases, in one run: one engine alone (CPU per check), then 2-3 engines sharing the same targets
(CPU per check with leases, duplicate probes = two probes of one target closer than half its
interval), kill -9 of one engine (failover = until every target was probed again), then K
targets made to fail (duplicate notifications = webhook alerts beyond one per target). --check
exits 1 when any duplicate is seen outside the crash window or failover exceeds lease + interval
+ 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.cluster_harness import Cluster, Hooks, Node, pg_schema

LEASE_S = 3.0


class Arrivals:
    """One listener per target recording each connection's arrival time (the receiving side)."""

    def __init__(self, n: int) -> None:
        self.times: dict[int, list[float]] = {}
        self.lock = threading.Lock()
        self.socks: dict[int, socket.socket] = {}
        for _ in range(n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(256)
            s.settimeout(0.3)
            port = s.getsockname()[1]
            self.socks[port] = s
            self.times[port] = []
            threading.Thread(target=self._serve, args=(port, s), daemon=True).start()

    @property
    def ports(self) -> list[int]:
        return list(self.times)

    def _serve(self, port: int, s: socket.socket) -> None:
        while self.socks.get(port) is s:
            try:
                c, _ = s.accept()
                c.close()
                with self.lock:
                    self.times[port].append(time.time())
            except TimeoutError:
                pass
            except OSError:
                return

    def count(self, t0: float, t1: float) -> int:
        with self.lock:
            return sum(1 for ts in self.times.values() for t in ts if t0 <= t < t1)

    def duplicates(self, t0: float, t1: float, interval: float) -> int:
        """Probes of one target closer than half its interval to the one before, within [t0, t1)."""
        n = 0
        with self.lock:
            for ts in self.times.values():
                window = [t for t in ts if t0 <= t < t1]
                n += sum(
                    1 for a, b in zip(window, window[1:], strict=False) if b - a < interval / 2
                )
        return n

    def all_probed_since(self, t: float) -> bool:
        with self.lock:
            return all(any(x > t for x in ts[-3:]) for ts in self.times.values())

    def first_after(self, t: float) -> float:
        with self.lock:
            return max(min((x for x in ts if x > t), default=float("inf")) for ts in
                       self.times.values())  # fmt: skip

    def close_port(self, port: int) -> None:
        self.socks.pop(port).close()


def cpu_s(node: Node) -> float:
    """User + system CPU seconds of an engine process (from /proc)."""
    assert node.proc is not None
    fields = Path(f"/proc/{node.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(nodes: list[Node], arr: Arrivals, seconds: float) -> tuple[float, int, float, float]:
    """(CPU ms per check, checks, t0, t1) over a window."""
    c0, t0 = sum(cpu_s(n) for n in nodes), time.time()
    time.sleep(seconds)
    c1, t1 = sum(cpu_s(n) for n in nodes), time.time()
    checks = arr.count(t0, t1)
    return (c1 - c0) * 1000 / max(1, checks), checks, t0, t1


def run(args: argparse.Namespace) -> dict[str, float]:
    arr, hooks = Arrivals(args.targets), Hooks()
    with pg_schema() as url:
        root = Path(tempfile.mkdtemp(prefix="sysalert-perf-cluster-"))
        cl = Cluster(root, url)
        cfg = cl.first / "config.toml"
        cfg.write_text(cfg.read_text().replace("[engine]\n", f'[engine]\nlease = "{LEASE_S:g}s"\n'))
        cmds = cl.commands()
        try:
            cmds.add_contact("oncall", f"webhook:http://127.0.0.1:{hooks.port}/hook")
            for i, port in enumerate(arr.ports):
                cmds.add_target(f"tcp://127.0.0.1:{port}", name=f"p{i:04d}",
                                interval=f"{args.interval:g}s")  # fmt: skip
        finally:
            cmds.store.close()
        nodes: list[Node] = []
        try:
            nodes.append(cl.node("e0").start())
            time.sleep(args.warmup)
            solo_ms, solo_n, _, _ = measure(nodes, arr, args.seconds)
            t_join = time.time()
            for i in range(1, args.engines):
                nodes.append(cl.node(f"e{i}").start())
            time.sleep(args.warmup + 2)
            shared_ms, shared_n, _, t1 = measure(nodes, arr, args.seconds)
            dup_probes = arr.duplicates(t_join, t1, args.interval)
            held = [e["targets_held"] for e in json.loads(nodes[1].cli("engines", "--json").stdout)
                    if e["alive"]]  # fmt: skip
            victim = nodes.pop(0)
            victim.kill9()
            t_kill = time.time()
            deadline = t_kill + 60
            while time.time() < deadline and not arr.all_probed_since(t_kill):
                time.sleep(0.1)
            failover = arr.first_after(t_kill) - t_kill
            time.sleep(args.interval * 2)
            t_after = time.time()
            names = [f"p{i:04d}" for i in range(args.failing)]
            for port in arr.ports[: args.failing]:
                arr.close_port(port)
            time.sleep(args.seconds)
            dup_probes += arr.duplicates(t_after, time.time(), args.interval)
            alerts: dict[str, int] = {}
            for _, body in hooks.posts:
                d = json.loads(body)
                if d.get("kind") == "alert":
                    alerts[d["target_name"]] = alerts.get(d["target_name"], 0) + 1
            missing = [n for n in names if n not in alerts]
            dup_notes = sum(max(0, n - 1) for n in alerts.values())
        finally:
            for n in nodes:
                n.stop()
            cl.stop()
            hooks.close()
    out = {
        "targets": args.targets,
        "engines": args.engines,
        "interval_s": args.interval,
        "lease_s": LEASE_S,
        "cpu_ms_per_check_one_engine": round(solo_ms, 3),
        "cpu_ms_per_check_shared": round(shared_ms, 3),
        "claiming_overhead_pct": round((shared_ms / solo_ms - 1) * 100, 1) if solo_ms else 0.0,
        "checks_per_s_one_engine": round(solo_n / args.seconds, 1),
        "checks_per_s_shared": round(shared_n / args.seconds, 1),
        "targets_held": held,  # type: ignore[dict-item]
        "failover_s": round(failover, 2),
        "duplicate_probes": dup_probes,
        "alerts_missing": len(missing),
        "duplicate_notifications": dup_notes,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", type=int, default=200)
    p.add_argument("--engines", type=int, default=2, choices=(2, 3))
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=10.0, help="each measuring window")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--failing", type=int, default=5, help="targets made to fail at the end")
    p.add_argument("--check", action="store_true", help="exit 1 on duplicates or slow failover")
    args = p.parse_args(argv)
    out = run(args)
    print(json.dumps(out, indent=2))
    if args.check:
        bad = []
        if out["duplicate_probes"]:
            bad.append(f"{out['duplicate_probes']} duplicate probes")
        if out["duplicate_notifications"]:
            bad.append(f"{out['duplicate_notifications']} duplicate notifications")
        if out["alerts_missing"]:
            bad.append(f"{out['alerts_missing']} failing targets never paged")
        if out["failover_s"] > LEASE_S + args.interval + 2:
            bad.append(f"failover {out['failover_s']} s > lease {LEASE_S:g} s + interval + 2 s")
        if bad:
            print("FAIL: " + "; ".join(bad), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
