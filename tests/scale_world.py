"""The console fixture world with 100,000 more targets, built fast: for the tests that hold the
console to its promise at scale (tests/test_console_scale.py, tests/snapshots/test_scale_*).

The targets are written once per test process with the batch insert `sysalert import` uses
(engine/store/target_batch), and every test copies that store. The engine gets the same records
in memory as its load would give them (opening 100,000 sealed rows again would cost each test
seconds for nothing the test looks at). Everything is fixed: ids, names, states, latencies.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.runtime.engine import Engine
from engine.runtime.facade import EmbeddedBackend
from engine.store import target_batch
from engine.store.store import Store
from tests.console_fixture import (
    FIXED_NOW,
    TARGETS,
    World,
    build_world,
    fixture_settings,
    frozen_clock,
    open_fixture_store,
)

BULK = 100_000


def bulk_records(n: int = BULK) -> list[TargetRecord]:
    """n TCP targets `bulk-000000`...: one in 1,000 down, one in 997 pending, latencies cycling
    through 0.1-99.9 ms, a tag per rack of 100."""
    out = []
    for i in range(n):
        state = "down" if i % 1000 == 7 else "pending" if i % 997 == 3 else "up"
        out.append(
            TargetRecord(
                id=f"b{i:07d}",
                name=f"bulk-{i:06d}",
                spec_text=f"tcp://127.0.0.1:{20000 + i % 100}",
                kind="tcp",
                tags=[f"rack-{i // 100:04d}"],
                state=state,
                state_since=FIXED_NOW - 3600,
                last_check_at=FIXED_NOW - 5 - i % 25,
                last_latency_ms=None if state == "down" else round(0.1 + (i * 7919 % 999) / 10, 1),
                last_error_class="refused" if state == "down" else None,
                created_at=FIXED_NOW - 86400,
            )
        )
    return out


@functools.cache
def scale_template() -> Path:
    base = Path(tempfile.mkdtemp(prefix="sysalert-scale-"))
    atexit.register(shutil.rmtree, base, True)
    _, store = build_world(base / "data")
    recs = bulk_records()
    for i in range(0, len(recs), 5000):
        target_batch.insert_many(store, recs[i : i + 5000], "target.add", "fixture")
    store.close()
    return base / "data"


@contextmanager
def scale_world(tmp_path: Path) -> Iterator[World]:
    d = tmp_path / "data"
    shutil.copytree(scale_template(), d)
    settings = fixture_settings(d)
    store = open_fixture_store(settings)
    engine = make_engine_fast(settings, store)
    try:
        yield World(settings, store, engine, EmbeddedBackend(engine))
    finally:
        store.close()


def make_engine_fast(settings: Settings, store: Store) -> Engine:
    """As console_fixture.make_engine (not started, frozen clock), with the bulk records given
    to it in memory: its eight targets read from the store, the 100,000 not again."""
    engine = Engine(settings, store, mode="embedded", clock=frozen_clock)
    for tid, *_ in TARGETS:
        engine.target_changed(tid)
    engine.targets.update({r.id: r for r in bulk_records()})
    engine.alerting.reload_maintenance(FIXED_NOW)  # what run() does first, as make_engine
    return engine
