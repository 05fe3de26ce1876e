"""The measurements behind each benchmark kind. Each returns a Measurement and never raises for a
failed measurement (an unreachable URL is a result with an error class, like a probe's).

- `cpu`: a fixed pure-Python workload (integer arithmetic plus SHA-256 of a small block) for a
  fixed wall-clock budget, in a worker thread so the event loop keeps probing; score in ops/s,
  the best of a few short slices.
- `http`: N sequential requests through the HTTP probe, PACE_S apart (one client, connection
  reused after the first); score = p95 latency in ms.
- `tcp`: N connects through the TCP probe, PACE_S apart; score = p95 connect time in ms.
- `command`: run the program N times through the command probe (process group killed on
  timeout); score = the median of the numbers it prints.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from engine.benchmarks.spec import BenchSpec
from engine.checks.probes.base import ProbeContext, ProbeResult

CPU_SECONDS = 0.3
# Between two network attempts: each one meets an idle listener, as a probe does. Back to back,
# ten connects outran the accept loop of a server with a small listen backlog (Python's
# http.server queues 5): the kernel dropped a SYN, the client resent it a second later, and the
# benchmark scored 1,017 ms where every probe of that port took 0.4 ms.
PACE_S = 0.1
CPU_SLICES = 5
_BLOCK = bytes(range(256)) * 4  # 1 KiB: small enough that hashlib keeps the GIL (pure CPU)


@dataclass
class Measurement:
    """One benchmark run. `detail` may name a host: it goes to the owner, never into logs."""

    ok: bool
    score: float | None
    unit: str
    error_class: str | None = None
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, unit: str, error_class: str, detail: str, **facts: Any) -> Measurement:
        return cls(False, None, unit, error_class, detail, dict(facts))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, stable for small N."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _unit_of_work(seed: int) -> int:
    x = seed
    for _ in range(300):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x ^ hashlib.sha256(_BLOCK + x.to_bytes(4, "little")).digest()[0]


def cpu_workload(seconds: float = CPU_SECONDS) -> tuple[int, float]:
    """Repeat the unit of work for `seconds`; return (units done, seconds taken). Blocking."""
    start = time.perf_counter()
    end = start + seconds
    done, x = 0, 1
    while True:
        x = _unit_of_work(x)
        done += 1
        now = time.perf_counter()
        if now >= end:
            return done, now - start


def cpu_best_of(seconds: float = CPU_SECONDS, slices: int = CPU_SLICES) -> tuple[float, int, float]:
    """The best rate of a few short slices: a brief interruption (another process, a GC pause)
    spoils one slice, not the score; sustained contention slows them all and still shows."""
    rates, total, took = [], 0, 0.0
    for _ in range(slices):
        done, t = cpu_workload(seconds / slices)
        rates.append(done / t)
        total, took = total + done, took + t
    return max(rates), total, took


async def measure_cpu(spec: BenchSpec, seconds: float = CPU_SECONDS) -> Measurement:
    score, done, took = await anyio.to_thread.run_sync(cpu_best_of, seconds)
    return Measurement(True, score, spec.unit, facts={"ops": done, "seconds": round(took, 4)})


def _latency_result(
    spec: BenchSpec, samples: list[float], errors: list[ProbeResult]
) -> Measurement:
    """p50/p95 of the successful samples; the run fails when most attempts failed."""
    attempts = len(samples) + len(errors)
    if not samples or len(errors) * 2 > attempts:
        first = errors[0] if errors else None
        return Measurement.failure(
            spec.unit,
            (first.error_class if first else None) or "error",
            f"{len(errors)} of {attempts} attempts failed"
            + (f": {first.detail}" if first and first.detail else ""),
            attempts=attempts,
            errors=len(errors),
        )
    facts = {
        "n": len(samples),
        "errors": len(errors),
        "p50_ms": round(percentile(samples, 50), 3),
        "p95_ms": round(percentile(samples, 95), 3),
        "min_ms": round(min(samples), 3),
        "max_ms": round(max(samples), 3),
    }
    detail = f"{len(errors)} of {attempts} attempts failed" if errors else ""
    return Measurement(True, percentile(samples, 95), spec.unit, None, detail, facts)


async def _repeat(
    spec: BenchSpec, kind: str, ctx: ProbeContext
) -> tuple[list[float], list[ProbeResult]]:
    from engine.checks.runner import run_check

    assert spec.target is not None
    samples: list[float] = []
    errors: list[ProbeResult] = []
    for i in range(spec.n):
        if i and kind != "command":
            await anyio.sleep(PACE_S)
        res = await run_check(spec.target, ctx)
        value = res.value if kind == "command" else res.latency_ms
        if res.ok and value is not None:
            samples.append(float(value))
        elif res.ok:
            errors.append(ProbeResult.failure("protocol", "the command printed no number"))
        else:
            errors.append(res)
    return samples, errors


async def measure_http(spec: BenchSpec) -> Measurement:
    from engine.checks.probes.http import close_shared

    shared: dict[str, Any] = {}
    try:
        samples, errors = await _repeat(
            spec, "http", ProbeContext(timeout=spec.timeout_s, shared=shared)
        )
    finally:
        with anyio.CancelScope(shield=True):
            await close_shared(shared)
    return _latency_result(spec, samples, errors)


async def measure_tcp(spec: BenchSpec) -> Measurement:
    samples, errors = await _repeat(spec, "tcp", ProbeContext(timeout=spec.timeout_s))
    return _latency_result(spec, samples, errors)


async def measure_command(spec: BenchSpec) -> Measurement:
    samples, errors = await _repeat(spec, "command", ProbeContext(timeout=spec.timeout_s))
    if errors:
        first = errors[0]
        return Measurement.failure(
            spec.unit,
            first.error_class or "error",
            first.detail,
            attempts=spec.n,
            errors=len(errors),
        )
    facts = {"n": len(samples), "min": min(samples), "max": max(samples)}
    return Measurement(True, statistics.median(samples), spec.unit, facts=facts)


def describe(spec: BenchSpec) -> str:
    """What the score is, in a sentence: `bench add`, `bench run` and `bench list --json` say it."""
    if spec.kind == "cpu":
        return f"ops/s of a fixed local workload, the best of {CPU_SLICES} short slices"
    if spec.kind == "http":
        return f"p95 latency of {spec.n} requests {PACE_S:g}s apart"
    if spec.kind == "tcp":
        return f"p95 time to connect, of {spec.n} connects {PACE_S:g}s apart"
    better = "higher" if spec.higher_is_better else "lower"
    return f"the median of the numbers {spec.n} run(s) print, {better} is better"


async def measure(spec: BenchSpec) -> Measurement:
    """Run the benchmark once; a bug in a workload becomes a failed measurement, not a crash."""
    fn = {"cpu": measure_cpu, "http": measure_http, "tcp": measure_tcp, "command": measure_command}[
        spec.kind
    ]
    try:
        return await fn(spec)
    except Exception as exc:
        return Measurement.failure(spec.unit, "error", f"{type(exc).__name__}: {exc}"[:300])
