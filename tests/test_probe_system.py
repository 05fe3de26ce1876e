"""System probe on this machine: values cross-checked against psutil/os, thresholds, bad paths."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import psutil
import pytest

from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext
from engine.checks.specs import parse_spec


async def run(spec: str, **options):
    return await get_probe("system")(parse_spec(spec), ProbeContext(timeout=5, options=options))


@pytest.mark.anyio
@pytest.mark.parametrize("metric", ["cpu", "memory", "swap"])
async def test_percent_metrics_are_sane(metric: str) -> None:
    r = await run(f"system://{metric}")
    assert r.ok, r.detail
    assert 0.0 <= r.value <= 100.0
    assert r.facts["percent"] == r.value
    assert f"{r.value:g}%" in r.detail


@pytest.mark.anyio
async def test_memory_matches_psutil_and_max_zero_fails() -> None:
    r = await run("system://memory")
    assert 0.0 < r.value <= 100.0
    assert abs(r.value - psutil.virtual_memory().percent) < 5
    assert r.facts["total"] == psutil.virtual_memory().total
    over = await run("system://memory?max=0")
    assert not over.ok and over.error_class == "threshold"
    assert over.value > 0 and "> max 0%" in over.detail
    under = await run("system://memory?min=100")  # (above 100 is refused when added)
    assert not under.ok and under.error_class == "threshold" and "< min" in under.detail


@pytest.mark.anyio
async def test_thresholds_from_target_options_and_spec_wins() -> None:
    assert (await run("system://memory", max=0)).error_class == "threshold"
    assert (await run("system://memory?max=100", max=0)).ok


@pytest.mark.anyio
async def test_cpu_agrees_with_psutil_over_the_same_window() -> None:
    await run("system://cpu")  # our baseline
    psutil.cpu_percent(interval=None)  # psutil's baseline, at (nearly) the same instant
    await asyncio.sleep(0.5)
    ours = (await run("system://cpu")).value
    theirs = psutil.cpu_percent(interval=None)
    assert abs(ours - theirs) < 15, (ours, theirs)


@pytest.mark.anyio
async def test_cpu_sampling_does_not_block_the_event_loop() -> None:
    import engine.checks.probes.system as system

    system._cpu_last = None  # force the first-sample path, which has to wait for a window
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    t0 = time.perf_counter()
    r = await run("system://cpu")
    took = time.perf_counter() - t0
    tick.cancel()
    assert r.ok and took >= system.FIRST_CPU_WINDOW * 0.9  # it did wait for a window ...
    assert len(gaps) >= 5 and max(gaps) < 0.1  # ... without stopping the loop


@pytest.mark.anyio
async def test_load_is_load1_per_core_percent() -> None:
    r = await run("system://load")
    expected = os.getloadavg()[0] * 100 / psutil.cpu_count()
    assert r.ok and r.value >= 0  # may exceed 100 on a busy machine: 100 = every core busy
    assert abs(r.value - expected) < 50  # load1 moves slowly; allow for a tick between reads
    assert r.facts["cpus"] == psutil.cpu_count() and r.facts["load1"] >= 0


@pytest.mark.anyio
async def test_disk_on_a_tmp_path(tmp_path: Path) -> None:
    r = await run(f"system://disk:{tmp_path}")
    assert r.ok, r.detail
    assert 0.0 <= r.value <= 100.0
    assert r.value == pytest.approx(psutil.disk_usage(str(tmp_path)).percent, abs=1)
    assert r.facts["path"] == str(tmp_path) and r.facts["total"] > 0


@pytest.mark.anyio
async def test_disk_defaults_to_root() -> None:
    r = await run("system://disk")
    assert r.ok and r.facts["path"] == "/"


@pytest.mark.anyio
async def test_unknown_mount_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "not-mounted"
    r = await run(f"system://disk:{missing}")
    assert not r.ok and r.error_class == "error"
    assert str(missing) in r.detail and "does not exist" in r.detail
