"""Benchmarks in the store: sealed names and specs, fingerprint lookups, and the run history.

Names are unique per owner (two subscribers may both have a `cpu`), looked up by fingerprint so no
plaintext index exists. Every function opens its own session: callers run them in worker threads.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from engine.core.errors import BadInput
from engine.store.models import Benchmark, BenchmarkRun
from engine.store.store import Store

B = "benchmarks"
NAME_FP = "bench.name"  # the purpose key rotation recomputes (engine.store.models.FINGERPRINTS)


@dataclass
class BenchRecord:
    """A benchmark, unsealed. Lives in memory and in answers to an authorised caller only."""

    id: str
    name: str
    spec_text: str
    kind: str
    interval_s: float = 3600.0
    baseline: float | None = None
    threshold_pct: float = 20.0
    higher_is_better: bool = True
    last_score: float | None = None
    last_run_at: float | None = None
    owner_id: str | None = None
    created_at: float = 0.0

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = d.pop("spec_text")
        return d


def from_row(store: Store, row: Benchmark) -> BenchRecord:
    return BenchRecord(
        id=row.id,
        name=store.open_(B, "name_s", row.id, row.name_s) or "",
        spec_text=store.open_(B, "spec_s", row.id, row.spec_s) or "",
        kind=row.kind,
        interval_s=row.interval_s,
        baseline=row.baseline,
        threshold_pct=row.threshold_pct,
        higher_is_better=row.higher_is_better,
        last_score=row.last_score,
        last_run_at=row.last_run_at,
        owner_id=row.owner_id,
        created_at=row.created_at,
    )


def _name_taken(store: Store, s: Any, name: str, owner_id: str | None, skip_id: str = "") -> bool:
    q = select(col(Benchmark.id)).where(col(Benchmark.name_fp).in_(store.fps(NAME_FP, name)))
    q = (
        q.where(col(Benchmark.owner_id) == owner_id)
        if owner_id is not None
        else q.where(col(Benchmark.owner_id).is_(None))
    )
    return any(i != skip_id for i in s.execute(q).scalars())


def insert(store: Store, rec: BenchRecord) -> BenchRecord:
    rec.id = rec.id or store.fresh_id(Benchmark)
    rec.created_at = rec.created_at or time.time()
    row = Benchmark(
        id=rec.id,
        name_fp=store.fp(NAME_FP, rec.name),
        name_s=store.seal(B, "name_s", rec.id, rec.name),
        kind=rec.kind,
        spec_s=store.seal(B, "spec_s", rec.id, rec.spec_text),
        interval_s=rec.interval_s,
        baseline=rec.baseline,
        threshold_pct=rec.threshold_pct,
        higher_is_better=rec.higher_is_better,
        owner_id=rec.owner_id,
        created_at=rec.created_at,
    )
    with store.session() as s:
        if _name_taken(store, s, rec.name, rec.owner_id):
            raise BadInput(
                f"a benchmark named {rec.name!r} already exists",
                "choose another --name or remove the old one",
            )
        s.add(row)
        s.commit()
    return rec


def load_all(store: Store, owner_id: str | None = None) -> list[BenchRecord]:
    """Every benchmark (owner_id None: the operator sees all), or one owner's."""
    with store.session() as s:
        q = select(Benchmark)
        if owner_id is not None:
            q = q.where(col(Benchmark.owner_id) == owner_id)
        return [from_row(store, r) for r in s.execute(q).scalars()]


def get(store: Store, bench_id: str) -> BenchRecord | None:
    with store.session() as s:
        row = s.get(Benchmark, bench_id)
        return from_row(store, row) if row else None


def find(store: Store, ref: str, owner_id: str | None = None) -> BenchRecord | None:
    """By id, else by name; the operator (owner None) prefers their own on a name clash."""
    rec = get(store, ref)
    if rec is not None and (owner_id is None or rec.owner_id == owner_id):
        return rec
    with store.session() as s:
        q = select(Benchmark).where(Benchmark.name_fp.in_(store.fps(NAME_FP, ref)))  # type: ignore[attr-defined]
        if owner_id is not None:
            q = q.where(col(Benchmark.owner_id) == owner_id)
        rows = list(s.execute(q).scalars())
    if len(rows) > 1:
        own = [r for r in rows if r.owner_id is None]
        if len(own) != 1:
            raise BadInput(
                f"several benchmarks are named {ref!r}", "name it by id (see `sysalert bench list`)"
            )
        rows = own
    return from_row(store, rows[0]) if rows else None


def update(store: Store, bench_id: str, **values: Any) -> None:
    """Set plain (unsealed) columns: scores, baseline, last run time, threshold, interval."""
    with store.session() as s:
        row = s.get(Benchmark, bench_id)
        if row is None:
            return
        for k, v in values.items():
            setattr(row, k, v)
        s.add(row)
        s.commit()


def record_runs(
    store: Store, bench_id: str, runs: list[tuple[float, float | None, bool]], last: dict[str, Any]
) -> bool:
    """Append runs (ts, score, ok) and update the benchmark's columns in one transaction.
    A failed run stores score 0 with ok False: the column is not nullable, `ok` says which."""
    with store.session() as s:
        row = s.get(Benchmark, bench_id)
        if row is None:
            return False  # removed while it ran
        for ts, score, ok in runs:
            s.add(
                BenchmarkRun(
                    benchmark_id=bench_id, ts=ts, score=score if score is not None else 0.0, ok=ok
                )
            )
        for k, v in last.items():
            setattr(row, k, v)
        s.add(row)
        s.commit()
    return True


def recent_runs(store: Store, bench_id: str, limit: int = 10) -> list[BenchmarkRun]:
    """The newest runs, returned oldest first (a trend reads left to right)."""
    with store.session() as s:
        q = (
            select(BenchmarkRun)
            .where(col(BenchmarkRun.benchmark_id) == bench_id)
            .order_by(col(BenchmarkRun.ts).desc(), col(BenchmarkRun.id).desc())
            .limit(limit)
        )
        return list(reversed(list(s.execute(q).scalars())))


def first_ok_scores(store: Store, bench_id: str, limit: int) -> list[float]:
    with store.session() as s:
        q = (
            select(col(BenchmarkRun.score))
            .where(col(BenchmarkRun.benchmark_id) == bench_id, col(BenchmarkRun.ok).is_(True))
            .order_by(col(BenchmarkRun.ts), col(BenchmarkRun.id))
            .limit(limit)
        )
        return [float(v) for v in s.execute(q).scalars()]


def delete_benchmark(store: Store, bench_id: str) -> None:
    with store.session() as s:
        s.execute(delete(BenchmarkRun).where(col(BenchmarkRun.benchmark_id) == bench_id))
        s.execute(delete(Benchmark).where(col(Benchmark.id) == bench_id))
        s.commit()
