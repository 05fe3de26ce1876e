"""System probe: local CPU, memory, swap, disk and load as a percentage, checked against min/max.

Nothing here blocks the event loop: CPU usage is the difference of two psutil.cpu_times()
snapshots (we keep our own, so other psutil.cpu_percent() users cannot reset our baseline), and
statvfs for a disk runs in a worker thread because a hung network mount can block it for minutes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio.to_thread
import psutil

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.specs import TargetSpec

MIN_CPU_WINDOW = 0.1  # seconds; a shorter window is noise
FIRST_CPU_WINDOW = 0.25  # seconds to sample when there is no recent snapshot

_cpu_last: tuple[float, float, float] | None = None  # (monotonic time, busy, total)


def _cpu_counters() -> tuple[float, float]:
    """(busy, total) CPU seconds since boot, summed over all CPUs, psutil's definition."""
    t = psutil.cpu_times()
    total = sum(t)
    # On Linux guest time is already counted in user/nice.
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


async def cpu_percent() -> float:
    """Busy share of all CPUs since the last call (or over FIRST_CPU_WINDOW), 0-100."""
    global _cpu_last
    now = time.monotonic()
    if _cpu_last is None or now - _cpu_last[0] < MIN_CPU_WINDOW:
        busy0, total0 = _cpu_counters()
        await asyncio.sleep(FIRST_CPU_WINDOW)
        base = (now, busy0, total0)
    else:
        base = _cpu_last
    busy, total = _cpu_counters()
    _cpu_last = (time.monotonic(), busy, total)
    d_total = total - base[2]
    if d_total <= 0:
        return 0.0
    return max(0.0, min(100.0, (busy - base[1]) * 100.0 / d_total))


async def _measure(metric: str, path: str) -> tuple[float, dict[str, Any], str]:
    """(percent, facts, label) for one metric."""
    if metric == "cpu":
        value = await cpu_percent()
        return value, {"cpus": psutil.cpu_count() or 1}, "cpu"
    if metric == "memory":
        vm = psutil.virtual_memory()
        return vm.percent, {"total": vm.total, "available": vm.available}, "memory"
    if metric == "swap":
        sw = psutil.swap_memory()
        return sw.percent, {"total": sw.total, "used": sw.used}, "swap"
    if metric == "load":
        load1, load5, load15 = psutil.getloadavg()
        cpus = psutil.cpu_count() or 1
        facts = {"load1": load1, "load5": load5, "load15": load15, "cpus": cpus}
        return load1 * 100.0 / cpus, facts, "load (1 min, % of cores)"
    if metric == "disk":
        du = await anyio.to_thread.run_sync(psutil.disk_usage, path, abandon_on_cancel=True)
        return du.percent, {"path": path, "total": du.total, "free": du.free}, f"disk {path}"
    raise ValueError(metric)


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Measure spec.metric as a percent; params max/min (or ctx.options) fail it as 'threshold'."""
    metric = spec.metric or ""
    path = spec.params.get("path", "/")
    start = time.perf_counter()
    try:
        value, facts, label = await _measure(metric, path)
    except ValueError:
        return ProbeResult.failure(
            "error", f"system metric {metric!r} is unknown (cpu, memory, swap, disk, load)"
        )
    except FileNotFoundError:
        return ProbeResult.failure(
            "error",
            f"disk path {path!r} does not exist (is it mounted?); use an existing mount point such as /",
        )
    except PermissionError:
        return ProbeResult.failure("permission", f"disk path {path!r} is not readable by this user")
    except OSError as exc:
        return ProbeResult.failure("error", f"{metric}: {exc.strerror or exc}")
    took = (time.perf_counter() - start) * 1000
    return judge(spec, ctx, value, took, facts, label)


def judge(
    spec: TargetSpec,
    ctx: ProbeContext,
    value: float,
    took: float,
    facts: dict[str, Any],
    label: str,
) -> ProbeResult:
    """The result for one measured percent: failed as 'threshold' beyond the target's max/min."""
    value = round(float(value), 2)
    high = _limit(spec, ctx, "max")
    low = _limit(spec, ctx, "min")
    facts["percent"] = value
    if high is not None and value > high:
        return ProbeResult(
            False, took, value, "threshold", f"{label} {value:g}% > max {high:g}%", False, facts
        )
    if low is not None and value < low:
        return ProbeResult(
            False, took, value, "threshold", f"{label} {value:g}% < min {low:g}%", False, facts
        )
    return ProbeResult(True, took, value, None, f"{label} {value:g}%", False, facts)


def _limit(spec: TargetSpec, ctx: ProbeContext, key: str) -> float | None:
    """The spec's own max/min wins over the target options."""
    raw = spec.params.get(key, ctx.options.get(key))
    return None if raw is None else float(raw)
