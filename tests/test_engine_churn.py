"""No worker thread walks state the event loop owns.

The loop adds and removes targets (every add, edit and delete lands there) while the rules tick and
the maintenance reload run in worker threads. Before they walked a copy made on the loop, a replay
of that pattern failed 276 of 2,419 scans with "dictionary changed size during iteration". Here a
real engine runs with real rules while the loop adds and removes 100 targets a second for 10 s.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import anyio
import pytest

from engine.config.settings import load_settings
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# Rules that walk every target on each tick: a selector, a name that matches nothing (the walk
# reaches the end), and a system metric (the walk looks for a system target).
RULES = """
[engine]
seed_local_targets = false

[[rules]]
name = "any slow target"
metric = "latency"
comparison = ">"
threshold = 1000000
target = "*"

[[rules]]
name = "a target nobody has"
metric = "up"
comparison = "<"
threshold = 1
target = "no-such-target"

[[rules]]
name = "cpu"
metric = "system.cpu"
comparison = ">"
threshold = 1000
"""
BASE = 2_000  # targets that stay: each walk takes long enough to meet a change
RATE = 100  # targets added and removed per second
SECONDS = 10.0


async def test_rule_ticks_and_maintenance_reloads_survive_target_churn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(RULES, encoding="utf-8")
    settings = load_settings(data_dir / "config.toml", data_dir, env={})
    write_key_file(data_dir / KEY_FILE_NAME, [new_master_key()])
    store = open_store(settings)
    engine = Engine(settings, store)
    build = engine.commands.build_target

    def record(n: int):  # type: ignore[no-untyped-def]
        rec = build("tcp://127.0.0.1:9", name=f"churn-{n}", interval="1h", tags=["web"])
        rec.id = f"churn{n:07d}"
        return rec

    caplog.set_level(logging.WARNING)
    ticks = failures = 0
    errors: list[str] = []
    stop = threading.Event()

    def tick_hard() -> None:
        """Rule ticks and maintenance reloads from a worker thread, back to back, as the alerting
        tick and a maintenance change run them (the engine's own 1 s tick runs besides)."""
        nonlocal ticks, failures
        while not stop.is_set():
            try:
                engine.alerting.rules.tick(engine.clock())
                engine.maintenance_changed()  # the hook commands call: onto the loop, then queued
                ticks += 1
            except Exception as exc:  # the failure this test exists to catch
                failures += 1
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.002)

    try:
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            for n in range(BASE):
                engine._target_changed(record(n))
            added = removed = 0
            next_id = BASE
            t0 = time.monotonic()
            async with anyio.create_task_group() as workers:
                workers.start_soon(anyio.to_thread.run_sync, tick_hard)
                # On the loop, as the command layer's hooks do it: one add and one remove every
                # 10 ms, the removed one the oldest churned target still there.
                while time.monotonic() - t0 < SECONDS:
                    engine._target_changed(record(next_id))
                    next_id += 1
                    added += 1
                    if added > RATE:  # a second's worth of churned targets stays in flight
                        engine.target_removed(f"churn{BASE + removed:07d}")
                        removed += 1
                    await anyio.sleep(1 / RATE)
                stop.set()
            rule_ticks = ticks
            await anyio.sleep(1.5)  # the engine's own tick and the queued reloads run once more
            engine.stop()
    finally:
        stop.set()
        store.close()

    assert added >= SECONDS * RATE * 0.5, f"only {added} targets added in {SECONDS:g} s"
    assert rule_ticks >= 50, f"only {rule_ticks} rule ticks ran"
    assert failures == 0, f"{failures} of {rule_ticks + failures} ticks failed: {errors[:3]}"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not logged, [f"{r.name}: {r.getMessage()}" for r in logged[:5]]
    assert len(engine.targets) == BASE + added - removed
