"""Benchmark commands (add, list, show, remove, baseline, run now) and the quota checks that the
target commands share. The console, the CLI, the API and `/setbench` / `/get` all call these."""

from __future__ import annotations

import time
from typing import Any

import anyio

from engine.benchmarks.runner import measure_and_record
from engine.benchmarks.scoring import delta_pct, fmt, status
from engine.benchmarks.spec import MIN_INTERVAL, UNITS, parse_bench_spec, parse_threshold
from engine.benchmarks.workloads import describe
from engine.commands.base import CommandBase
from engine.core.durations import parse_duration
from engine.core.errors import BadInput, NotFound
from engine.core.limits import (
    BENCH_INTERVAL,
    RUNS,
    SPEC_MAX,
    Name,
    Spec,
    check_int,
    check_name,
    check_text,
)
from engine.core.results import Benchmark
from engine.store import benchmarks as bstore
from engine.store import incidents as inc_store
from engine.store import quotas

DEFAULT_INTERVAL = 3600.0
TREND_RUNS = 10


def _check_name(name: str) -> str:
    return check_name(name, "benchmark")


class BenchmarkCommands(CommandBase):
    # ---- quotas (targets use them too) -----------------------------------------------------------
    def check_quota(self, kind: str, owner_id: str | None, adding: int = 1) -> None:
        """Raise QuotaExceeded when `owner_id` may not add `adding` more targets or benchmarks."""
        quotas.check(self.store, self.settings, kind, owner_id, adding)

    def quota_use(self, owner_id: str | None) -> dict[str, Any]:
        """Limits and use per kind, for /whoami and the Subscribers screen."""
        return {
            k: quotas.quota(self.store, self.settings, k, owner_id).public() for k in quotas.KINDS
        }

    # ---- benchmarks --------------------------------------------------------------------------------
    def add_benchmark(
        self,
        spec: Spec,
        name: Name | None = None,
        interval: str | float | None = None,
        threshold: str | float | None = None,
        owner_id: str | None = None,
        by: str = "operator",
    ) -> Benchmark:
        """Validate everything, check the quota, then store; on any error nothing is stored."""
        parsed = parse_bench_spec(check_text(spec, "benchmark spec", SPEC_MAX))
        iv = (
            parse_duration(interval, "interval", BENCH_INTERVAL)
            if interval is not None
            else (parsed.interval_s or DEFAULT_INTERVAL)
        )
        if iv < MIN_INTERVAL:
            raise BadInput(
                f"interval {interval!r} is too short",
                "use at least 1s; benchmarks load what they measure",
            )
        pct = (
            parse_threshold(threshold)
            if threshold is not None
            else (parsed.threshold_pct or parsed.default_threshold)
        )
        rec = bstore.BenchRecord(
            id="",
            name=_check_name(name or parsed.default_name()),
            spec_text=parsed.raw,
            kind=parsed.kind,
            interval_s=iv,
            threshold_pct=pct,
            higher_is_better=parsed.higher_is_better,
            owner_id=owner_id,
        )
        self.check_quota("benchmarks", owner_id)
        bstore.insert(self.store, rec)
        self.audit("benchmark.add", self.store.ref("bench", rec.id), by)
        self._wake_benchmarks()
        return self._bench_public(rec, [])

    def get_benchmark(self, ref: str, owner_id: str | None = None) -> bstore.BenchRecord:
        rec = bstore.find(self.store, ref.strip(), owner_id)
        if rec is None or (owner_id is not None and rec.owner_id != owner_id):
            raise NotFound(f"no benchmark {ref!r}", "see `sysalert bench list` for ids and names")
        return rec

    def list_benchmarks(self, owner_id: str | None = None) -> list[Benchmark]:
        """Each with score vs baseline, delta %, status and the last runs' scores as a trend."""
        recs = sorted(bstore.load_all(self.store, owner_id), key=lambda r: r.name.lower())
        return [
            self._bench_public(r, bstore.recent_runs(self.store, r.id, TREND_RUNS)) for r in recs
        ]

    def show_benchmark(self, ref: str, owner_id: str | None = None, runs: int = 50) -> Benchmark:
        rec = self.get_benchmark(ref, owner_id)
        return self._bench_public(
            rec, bstore.recent_runs(self.store, rec.id, check_int(runs, "runs", RUNS))
        )

    def remove_benchmark(
        self, ref: str, owner_id: str | None = None, by: str = "operator"
    ) -> dict[str, Any]:
        rec = self.get_benchmark(ref, owner_id)
        self._resolve_bench_incident(rec.id, by)
        bstore.delete_benchmark(self.store, rec.id)
        self.audit("benchmark.remove", self.store.ref("bench", rec.id), by)
        self._wake_benchmarks()
        return {"removed": rec.name, "id": rec.id}

    def set_baseline(
        self, ref: str, owner_id: str | None = None, by: str = "operator"
    ) -> Benchmark:
        """Baseline := the current score (after an intended change, say a new server)."""
        rec = self.get_benchmark(ref, owner_id)
        if rec.last_score is None:
            raise BadInput(
                f"benchmark {rec.name!r} has no score yet",
                f"run it first: `sysalert bench run {rec.id}` or /get {rec.name}",
            )
        old = rec.baseline
        unit = UNITS.get(rec.kind, "")
        bstore.update(self.store, rec.id, baseline=rec.last_score)
        rec.baseline = rec.last_score
        self.audit(
            "benchmark.baseline",
            self.store.ref("bench", rec.id),
            by,
            f"baseline {fmt(old, unit)} -> {fmt(rec.baseline, unit)}",
        )
        self._resolve_bench_incident(rec.id, by)  # the current score is the norm now
        self._wake_benchmarks()
        return self._bench_public(rec, bstore.recent_runs(self.store, rec.id, TREND_RUNS))

    async def run_benchmark(self, ref: str, owner_id: str | None = None) -> dict[str, Any]:
        """Measure now. With a running engine the run goes through it (incidents, events);
        without one it measures and records here, so `sysalert bench run` works offline too."""
        rec = await anyio.to_thread.run_sync(self.get_benchmark, ref, owner_id)
        if self.hooks.running:
            return dict(await self.hooks.benchmarks.run_now(rec.id))
        out = await measure_and_record(self.store, rec, time.time())
        if out.baseline_set:
            detail = f"baseline {fmt(rec.baseline, out.measurement.unit)} from the first runs"
            await anyio.to_thread.run_sync(
                self.audit, "benchmark.baseline", self.store.ref("bench", rec.id), "engine", detail
            )
        return out.public()

    # ---- helpers -------------------------------------------------------------------------------
    def _bench_public(self, rec: bstore.BenchRecord, runs: list[Any]) -> Benchmark:
        last_ok = runs[-1].ok if runs else None
        d = delta_pct(rec.last_score, rec.baseline)
        out = rec.public()
        out.update(
            {
                "unit": UNITS.get(rec.kind, ""),
                "score": rec.last_score,
                "delta_pct": None if d is None else round(d, 2),
                "status": status(
                    last_ok, rec.last_score, rec.baseline, rec.threshold_pct, rec.higher_is_better
                ),
                "trend": [r.score if r.ok else None for r in runs],
                "measures": describe(parse_bench_spec(rec.spec_text)),
                "ref": self.store.ref("bench", rec.id),
            }
        )
        return Benchmark.model_validate(out)

    def _resolve_bench_incident(self, bench_id: str, by: str) -> None:
        inc = inc_store.find_open(self.store, f"bench:{bench_id}")
        if inc is not None:
            self.resolve_incident(inc.id, by=by)  # type: ignore[attr-defined]

    def _wake_benchmarks(self) -> None:
        self.hooks.benchmarks.wake()
