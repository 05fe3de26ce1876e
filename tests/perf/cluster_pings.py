"""The cost, on the holding engine's event loop, of a heartbeat ping another engine took.

Several engines share one PostgreSQL store; a ping that lands on an engine that does not hold the
heartbeat is committed there and told to the holder. Before: the holder read the store on its
loop for every such ping (the newest result, then the pings since its state: `replay`). Now: the
notification carries the ping's time and code and the holder folds it in (`fold_remote`). Both
run here against the same real PostgreSQL store and heartbeat, each ping committed first, as the
other engine would; the figure is loop time per ping, and `--check` wants the fold at least 5
times cheaper than the read (a ratio in one run, not a time budget).

    python -m tests.perf.cluster_pings [--pings 300] [--check]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.cluster_harness import pg_schema


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pings", type=int, default=300)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    from engine.checks.probes.base import ProbeResult
    from engine.commands import Commands
    from engine.config.settings import load_settings
    from engine.runtime.engine import Engine
    from engine.security.crypto import KeyRing, new_master_key
    from engine.store import target_batch
    from engine.store.store import Store

    with pg_schema() as url, tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, Path(tmp), env={"SYSALERT_DATABASE_URL": url})
        store = Store.open(url, KeyRing.from_masters([new_master_key()]))
        try:
            rec0 = Commands(store, settings).add_target("heartbeat://job?every=1h", name="job")
            engine = Engine(settings, store)
            for rec in target_batch.iter_all(store):
                engine._install(rec)
            rec = engine.targets[rec0.id]
            hb = engine.alerting.heartbeats

            def commit_ping(ts: float) -> None:
                from engine.store.history import ResultWriter

                w = ResultWriter(store)
                w.add(rec.id, ts, ProbeResult(True, None, None, None, ""), "success")
                w.commit(w.prepare(w.take()), rollups=False)

            t = time.time()
            read_s = fold_s = 0.0
            for i in range(args.pings):  # before: a store read per ping, on the loop
                ts = t + i * 0.01
                commit_ping(ts)
                t0 = time.perf_counter()
                hb.replay([rec], ts)
                read_s += time.perf_counter() - t0
            t = time.time() + 10
            for i in range(args.pings):  # now: folded from the notification
                ts = t + i * 0.01
                commit_ping(ts)
                t0 = time.perf_counter()
                hb.fold_remote(rec, ts, "success", ts)
                fold_s += time.perf_counter() - t0
        finally:
            store.close()
    read_us = read_s / args.pings * 1e6
    fold_us = fold_s / args.pings * 1e6
    ratio = read_us / fold_us if fold_us else float("inf")
    print(f"loop time per ping taken elsewhere: store read {read_us:.0f} µs, "
          f"fold from notification {fold_us:.1f} µs ({ratio:.0f}x less)")  # fmt: skip
    if args.check and ratio < 5:
        print("FAIL: folding a notified ping is not 5 times cheaper than reading the store")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
