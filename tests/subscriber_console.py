"""The console fixture world (tests/console_fixture.py) plus two Telegram subscribers, one owning a
target and a benchmark, with fixed times: for the Subscribers screen and the owner column tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import update

from engine.store import benchmarks as bstore
from engine.store import subscribers as sstore
from engine.store import targets as tstore
from engine.store.models import Subscriber
from tests.console_fixture import FIXED_NOW, World, fresh_world

CAROL, OPS_ADMIN = 77441265, 5550001
CAROL_TARGET, CAROL_BENCH = "tcarolweb", "bcarolcpu"


def add_subscribers(w: World) -> dict[str, str]:
    """Carol (a subscriber, own limit of 3 targets, seen 5 minutes ago) owns `carol-web` and a
    cpu benchmark; an admin subscriber owns nothing and was never seen. Returns chat -> id."""
    store, cmds = w.store, w.engine.commands
    carol = sstore.insert(store, CAROL)
    admin = sstore.insert(store, OPS_ADMIN, role="admin")
    with store.engine.begin() as conn:
        table = Subscriber.__table__  # type: ignore[attr-defined]
        conn.execute(
            update(table)
            .where(table.c.id == carol.id)
            .values(created_at=FIXED_NOW - 3 * 86400, last_seen_at=FIXED_NOW - 300, max_targets=3)
        )
        conn.execute(
            update(table).where(table.c.id == admin.id).values(created_at=FIXED_NOW - 86400)
        )
    rec = cmds.build_target("tcp://127.0.0.1:15480", name="carol-web", owner_id=carol.id)
    rec.id, rec.created_at = CAROL_TARGET, FIXED_NOW - 86400
    rec.state, rec.state_since = "up", FIXED_NOW - 600
    rec.last_latency_ms, rec.last_check_at = 2.5, FIXED_NOW - 4
    tstore.insert(store, rec)
    w.engine.target_changed(rec.id)
    bench = bstore.BenchRecord(
        id=CAROL_BENCH,
        name="cpu",
        spec_text="cpu",
        kind="cpu",
        baseline=900.0,
        owner_id=carol.id,
        created_at=FIXED_NOW - 86400,
    )
    bstore.insert(store, bench)
    runs = [
        (FIXED_NOW - 3600 * (4 - i), v, True) for i, v in enumerate((890.0, 905.0, 910.0, 880.0))
    ]
    bstore.record_runs(store, CAROL_BENCH, runs, {"last_score": 880.0, "last_run_at": runs[-1][0]})
    return {str(CAROL): carol.id, str(OPS_ADMIN): admin.id}


@contextmanager
def subscriber_world(tmp_path: Path) -> Iterator[tuple[World, dict[str, str]]]:
    with fresh_world(tmp_path) as w:
        yield w, add_subscribers(w)
