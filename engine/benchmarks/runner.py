"""Benchmarks inside the engine: each on its interval, regressions as incidents, results as events.

One loop for all benchmarks (they are few and slow: a heap would buy nothing). It rescans the store
every few seconds or when the command layer wakes it, starts what is due, and never runs the same
benchmark twice at once. CPU benchmarks run one at a time (two would halve each other's score);
network ones share a small limit. A run that regresses beyond the threshold opens the incident
`bench:<id>` through the alerting coordinator; a run back within it resolves the incident.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from engine.benchmarks.scoring import BASELINE_RUNS, baseline_from, delta_pct, fmt, status
from engine.benchmarks.spec import parse_bench_spec
from engine.benchmarks.workloads import Measurement, describe, measure
from engine.core.errors import NotFound
from engine.core.events import BenchmarkEvent
from engine.store import benchmarks as bstore

if TYPE_CHECKING:
    from engine.benchmarks.ports import BenchmarkHost
    from engine.store.store import Store

log = logging.getLogger(__name__)
MAX_SLEEP = 5.0  # rescan at least this often: picks up changes made by another process
NET_CONCURRENCY = 4
SEVERITY = "medium"


@dataclass
class RunOutcome:
    """One run of a benchmark (several measurements while the baseline is being set)."""

    bench: bstore.BenchRecord
    ts: float
    measurement: Measurement
    baseline_set: bool = False
    measurements: int = 1
    incident_id: str | None = None
    stored: bool = True  # False when the benchmark was removed while it ran

    @property
    def status(self) -> str:
        b, m = self.bench, self.measurement
        return status(m.ok, m.score, b.baseline, b.threshold_pct, b.higher_is_better)

    @property
    def delta_pct(self) -> float | None:
        return delta_pct(self.measurement.score, self.bench.baseline)

    def public(self) -> dict[str, Any]:
        b, m = self.bench, self.measurement
        d = self.delta_pct
        return {
            "id": b.id,
            "name": b.name,
            "kind": b.kind,
            "unit": m.unit,
            "ts": self.ts,
            "ok": m.ok,
            "score": m.score,
            "baseline": b.baseline,
            "delta_pct": None if d is None else round(d, 2),
            "threshold_pct": b.threshold_pct,
            "higher_is_better": b.higher_is_better,
            "status": self.status,
            "error_class": m.error_class,
            "detail": m.detail,
            "facts": m.facts,
            "baseline_set": self.baseline_set,
            "measurements": self.measurements,
            "measures": describe(parse_bench_spec(b.spec_text)),
            "incident": self.incident_id,
        }


async def measure_and_record(store: Store, rec: bstore.BenchRecord, now: float) -> RunOutcome:
    """Measure once and store the run. While there is no baseline, take the missing first runs
    back to back so `/setbench` has a baseline within seconds, not after three intervals."""
    spec = parse_bench_spec(rec.spec_text)
    runs = [await measure(spec)]
    prior: list[float] = []
    if rec.baseline is None and runs[0].ok:
        prior = await anyio.to_thread.run_sync(bstore.first_ok_scores, store, rec.id, BASELINE_RUNS)
        while runs[-1].ok and len(prior) + len(runs) < BASELINE_RUNS:
            runs.append(await measure(spec))
    m = runs[-1]
    values: dict[str, Any] = {"last_run_at": now}
    if m.ok:
        values["last_score"] = m.score
    baseline_set = False
    if rec.baseline is None:
        base = baseline_from(prior + [r.score for r in runs if r.ok and r.score is not None])
        if base is not None:
            values["baseline"], baseline_set = base, True
    rows = [(now, r.score, r.ok) for r in runs]
    stored = await anyio.to_thread.run_sync(bstore.record_runs, store, rec.id, rows, values)
    for k, v in values.items():
        setattr(rec, k, v)
    return RunOutcome(rec, now, m, baseline_set, len(runs), stored=stored)


class BenchmarkRunner:
    def __init__(self, engine: BenchmarkHost) -> None:
        self.engine = engine
        self.store = engine.store
        self.runs = 0
        self.statuses: dict[str, str] = {}
        self.scores: dict[str, float] = {}  # by benchmark name: the `benchmark.score` rule metric
        self.fail_streaks: dict[str, int] = {}
        self._running: set[str] = set()
        self._not_before: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._locks: dict[str, anyio.Lock] = {}
        self._cpu: anyio.Lock | None = None
        self._net: anyio.CapacityLimiter | None = None

    # ---- scheduling ----------------------------------------------------------------------------
    def wake(self) -> None:
        """Rescan now (benchmark added, removed or changed). Any thread."""
        self.engine.call_in_loop(self._wake.set)

    def due_at(self, rec: bstore.BenchRecord, now: float) -> float:
        base = now if rec.last_run_at is None else rec.last_run_at + rec.interval_s
        return max(base, self._not_before.get(rec.id, 0.0))

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            while True:
                self._wake.clear()
                try:
                    benches = await anyio.to_thread.run_sync(bstore.load_all, self.store)
                except Exception as exc:
                    log.error("benchmarks: loading failed: %s", type(exc).__name__)
                    benches = []
                else:
                    for gone in set(self._not_before) - {b.id for b in benches} - self._running:
                        self._forget(gone)  # removed: keep memory bounded under churn
                now = self.engine.clock()
                wait = MAX_SLEEP
                for rec in benches:
                    if rec.id in self._running:
                        continue
                    due = self.due_at(rec, now)
                    if due <= now:
                        self._running.add(rec.id)
                        tg.start_soon(self._scheduled, rec)
                    else:
                        wait = min(wait, due - now)
                with anyio.move_on_after(max(wait, 0.01)):
                    await self._wake.wait()

    async def _scheduled(self, rec: bstore.BenchRecord) -> None:
        started = self.engine.clock()
        try:
            await self._run(rec.id)
        except NotFound:
            pass  # removed while it waited
        except Exception as exc:  # one broken benchmark must not stop the others
            log.error(
                "benchmark %s: run failed: %s", self.store.ref("bench", rec.id), type(exc).__name__
            )
        finally:
            self._running.discard(rec.id)
            self._not_before[rec.id] = started + rec.interval_s  # even if the run could not record
            self._wake.set()

    # ---- one run -------------------------------------------------------------------------------
    async def run_now(self, bench_id: str) -> dict[str, Any]:
        """Measure now, outside the schedule (`/get <benchmark>`, the console, the CLI). Safe to call
        from another event loop or thread: the run happens on the engine's loop."""

        async def run() -> dict[str, Any]:
            return (await self._run(bench_id)).public()

        if self.engine.running:
            return await self.engine.run_in_loop(run)
        return await run()

    async def _run(self, bench_id: str) -> RunOutcome:
        if self._cpu is None or self._net is None:
            self._cpu, self._net = anyio.Lock(), anyio.CapacityLimiter(NET_CONCURRENCY)
        lock = self._locks.setdefault(bench_id, anyio.Lock())
        async with lock:
            rec = await anyio.to_thread.run_sync(bstore.get, self.store, bench_id)
            if rec is None:
                self._forget(bench_id)
                raise NotFound(f"no benchmark {bench_id!r}", "see `sysalert bench list`")
            gate: Any = self._cpu if rec.kind == "cpu" else self._net
            async with gate:
                out = await measure_and_record(self.store, rec, self.engine.clock())
            self.runs += 1
            await anyio.to_thread.run_sync(self._after, out)
        self.engine.alerting.dispatcher.wake()  # an alert or a resolved notice may be queued
        m = out.measurement
        self.engine.events.publish(
            BenchmarkEvent(
                out.ts, rec.id, m.ok, m.score, rec.baseline, out.status, out.delta_pct, m.unit
            )
        )
        return out

    def _forget(self, bench_id: str) -> None:
        self.statuses.pop(bench_id, None)
        self.fail_streaks.pop(bench_id, None)
        self._not_before.pop(bench_id, None)
        self._locks.pop(bench_id, None)

    # ---- after a run (worker thread): audit, incidents ---------------------------------------------
    def _after(self, out: RunOutcome) -> None:
        if not out.stored:
            return  # removed meanwhile: nothing to alert about
        rec, m, st = out.bench, out.measurement, out.status
        ref = self.store.ref("bench", rec.id)
        audit = self.engine.commands.audit
        if out.baseline_set:
            audit(
                "benchmark.baseline",
                ref,
                "engine",
                f"baseline {fmt(rec.baseline, m.unit)} from the first runs",
            )
        prev = self.statuses.get(rec.id)
        self.statuses[rec.id] = st
        if m.ok and m.score is not None:
            self.scores[rec.name] = m.score
        if st == "regressed" and prev != "regressed":
            audit("benchmark.regressed", ref, "engine", _summary(rec, out))
        elif st == "ok" and prev == "regressed":
            audit(
                "benchmark.recovered", ref, "engine", f"{fmt(m.score, m.unit)} within the threshold"
            )
        streak = self.fail_streaks[rec.id] = (
            (self.fail_streaks.get(rec.id, 0) + 1) if not m.ok else 0
        )
        key = f"bench:{rec.id}"
        if st == "regressed" or (
            st == "failed" and streak >= self.engine.settings.engine.failure_threshold
        ):
            out.incident_id = self._open(rec, out, key)
        elif st == "ok":
            self._close(key, out.ts)

    def _open(self, rec: bstore.BenchRecord, out: RunOutcome, key: str) -> str | None:
        al = self.engine.alerting
        if al.maintenance.all_active:
            return None  # maintenance for everything: runs are kept, nothing opens
        m = out.measurement
        inc, _ = al.open_incident(
            key,
            "benchmark",
            SEVERITY,
            _summary(rec, out),
            out.ts,
            error_class="regression" if m.ok else (m.error_class or "error"),
            owner_id=rec.owner_id,
        )
        return inc.id

    def _close(self, key: str, now: float) -> None:
        self.engine.alerting.resolve_open(key, now)


def _summary(rec: bstore.BenchRecord, out: RunOutcome) -> str:
    """The incident text (sealed, sent to the owner). Starts with the name: alerts cut it short."""
    m = out.measurement
    if not m.ok:
        return f"benchmark {rec.name} failed ({m.error_class}): {m.detail}"[:400]
    d = out.delta_pct
    return (
        f"benchmark {rec.name}: {fmt(m.score, m.unit)} vs baseline {fmt(rec.baseline, m.unit)}"
        f" ({'' if d is None else f'{d:+.0f}%, '}threshold {rec.threshold_pct:g}%,"
        f" {'higher' if rec.higher_is_better else 'lower'} is better)"
    )
