"""Engine core against real resources: scheduler, state machine, batching, events, retention."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest
from sqlmodel import select

from engine.checks.probes.base import ProbeResult
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.events import EventBus, ResultEvent, StateEvent
from engine.core.state import FlapTracker, apply_result
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from engine.store.history import ResultWriter, housekeeping, recent_results, uptime
from engine.store.store import Store
from engine.timing.scheduler import Scheduler

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(settings: Settings, db_url: str):
    """The engine's store on a SQLite file and, when it answers, the local PostgreSQL."""
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    settings.general.database_url = "" if db_url.startswith("sqlite") else db_url
    st = open_store(settings)
    yield st
    st.close()


def sqlite_only(store: Store, why: str) -> None:
    if not store.sqlite:
        pytest.skip(f"SQLite only: {why}")


def _listener() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s, s.getsockname()[1]


# ---- scheduler ------------------------------------------------------------------------------


async def test_scheduler_spreads_first_runs_and_respects_concurrency() -> None:
    running = 0
    peak = 0
    started: list[float] = []

    async def run_one(tid: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        started.append(time.monotonic())
        await asyncio.sleep(0.01)
        running -= 1

    sch = Scheduler(run_one, concurrency=5)
    for i in range(50):
        sch.add(f"t{i}", interval=1.0)
    t0 = time.monotonic()
    task = asyncio.create_task(sch.run())
    await asyncio.sleep(1.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert peak <= 5
    first = sorted(started)[:50]
    # First runs are spread over the interval, not all at t0.
    assert first[-1] - t0 > 0.5
    assert sch.completed >= 50
    assert sch.lateness_percentiles()["p99_ms"] < 200


async def test_check_now_jumps_the_queue() -> None:
    order: list[str] = []

    async def run_one(tid: str) -> None:
        order.append(tid)

    sch = Scheduler(run_one, concurrency=1)
    sch.add("slow", interval=100.0, first_due=time.monotonic() + 50)
    sch.add("other", interval=100.0, first_due=time.monotonic() + 60)
    task = asyncio.create_task(sch.run())
    await asyncio.sleep(0.05)
    sch.check_now("other")
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert order == ["other"]


async def test_removed_target_is_not_run_again() -> None:
    runs: list[str] = []

    async def run_one(tid: str) -> None:
        runs.append(tid)

    sch = Scheduler(run_one, concurrency=2)
    sch.add("a", interval=0.05, first_due=time.monotonic())
    task = asyncio.create_task(sch.run())
    await asyncio.sleep(0.12)
    sch.remove("a")
    n = len(runs)
    await asyncio.sleep(0.15)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert n >= 2 and len(runs) <= n + 1


# ---- state machine ----------------------------------------------------------------------------


def _rec(state: str = "unknown") -> TargetRecord:
    return TargetRecord(id="t1", name="db", spec_text="tcp://127.0.0.1:1", kind="tcp", state=state)


def test_down_after_n_failures_up_after_m_successes() -> None:
    rec = _rec()
    ok, bad = ProbeResult(True, 1.0), ProbeResult.failure("refused", "no")
    assert apply_result(rec, ok, 1, 3, 2, None).new == "up"
    assert apply_result(rec, bad, 2, 3, 2, None).new == "pending"
    assert apply_result(rec, bad, 3, 3, 2, None) is None
    assert apply_result(rec, bad, 4, 3, 2, None).new == "down"
    assert rec.state_since == 4
    assert apply_result(rec, ok, 5, 3, 2, None) is None  # one success is not enough
    assert rec.state == "down"
    assert apply_result(rec, ok, 6, 3, 2, None).new == "up"


def test_pending_recovers_on_one_success_and_degraded_results() -> None:
    rec = _rec("up")
    apply_result(rec, ProbeResult.failure("timeout", "t"), 1, 2, 3, None)
    assert rec.state == "pending"
    assert apply_result(rec, ProbeResult(True, 1.0), 2, 2, 3, None).new == "up"
    assert apply_result(rec, ProbeResult(True, 1.0, degraded=True), 3, 2, 3, None).new == "degraded"


def test_a_down_target_needs_m_successes_degraded_ones_included() -> None:
    """A degraded answer is a success, not a recovery of its own: down stays down until M
    successes in a row (it resolved the incident at once before), then shows degraded."""
    rec = _rec("down")
    slow = ProbeResult(True, 900.0, degraded=True)
    assert apply_result(rec, slow, 1, 2, 3, None) is None and rec.state == "down"
    assert apply_result(rec, slow, 2, 2, 3, None) is None and rec.state == "down"
    assert apply_result(rec, slow, 3, 2, 3, None).new == "degraded"
    assert apply_result(rec, ProbeResult(True, 1.0), 4, 2, 3, None).new == "up"


def test_flap_tracker_with_hysteresis() -> None:
    flap = FlapTracker(window=10, threshold=0.5)
    rec = _rec("up")
    changes = []
    for i in range(12):
        tr = apply_result(
            rec,
            ProbeResult(i % 2 == 0, 1.0) if i % 2 == 0 else ProbeResult.failure("refused", ""),
            i,
            5,
            1,
            flap,
        )
        if tr and tr.flapping_changed:
            changes.append((i, rec.flapping))
    assert changes and changes[0][1] is True
    assert len(changes) == 1  # flapping starts once, no flip-flop
    for i in range(12, 40):
        tr = apply_result(rec, ProbeResult(True, 1.0), i, 5, 1, flap)
        if tr and tr.flapping_changed:
            changes.append((i, rec.flapping))
    assert changes[-1][1] is False


# ---- events -----------------------------------------------------------------------------------


async def test_slow_subscriber_drops_old_events_and_never_blocks() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxlen=10)
    fast = bus.subscribe(maxlen=1000)
    for i in range(100):
        bus.publish(StateEvent(float(i), f"t{i}", "up", "down"))
    assert slow.dropped == 90
    batch = await slow.get_batch()
    assert [e.ts for e in batch] == [float(i) for i in range(90, 100)]  # the newest survive
    assert len(await fast.get_batch(1000)) == 100
    assert batch[0].to_dict()["type"] == "state"


# ---- history ----------------------------------------------------------------------------------


def test_results_written_in_one_transaction_per_batch(store, settings: Settings) -> None:
    from engine.commands import Commands

    rec = Commands(store, settings).add_target("tcp://127.0.0.1:9", name="batchy")
    writer = ResultWriter(store)
    now = time.time()
    for i in range(500):
        writer.add(
            rec.id,
            now - i,
            ProbeResult(
                i % 5 != 0,
                2.0,
                None,
                None if i % 5 else "refused",
                "" if i % 5 else "refused by 127.0.0.1:9",
            ),
        )
    commits = []
    from sqlalchemy import event

    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    assert writer.flush() == 500
    assert len(commits) == 1
    rows = recent_results(store, rec.id, limit=10)
    assert len(rows) == 10 and rows[0]["ts"] >= rows[-1]["ts"]
    failed = [r for r in recent_results(store, rec.id, limit=500) if not r["ok"]]
    assert failed and failed[0]["detail"].startswith("refused by")
    assert uptime(store, rec.id, 86400, now) == pytest.approx(0.8, abs=0.01)
    # The sealed detail is not in the file in plaintext.
    db = Path(settings.database_url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"127.0.0.1:9" not in raw


def test_inline_commits_leave_checkpoints_to_the_worker_thread(store, settings: Settings) -> None:
    """Inline commits (event loop) never copy WAL pages back; `checkpoint` (a worker thread) does,
    so the WAL is emptied into the database file and does not grow without bound."""
    sqlite_only(store, "inline commits and the WAL are SQLite's")
    from engine.commands import Commands

    rec = Commands(store, settings).add_target("tcp://127.0.0.1:9", name="walled")
    writer = ResultWriter(store)
    db = settings.database_url.removeprefix("sqlite:///")
    for i in range(1200):
        writer.add(rec.id, 1_000_000.0 + i, ProbeResult(True, 1.0))
        assert writer.commit_inline(writer.prepare(writer.take()))
    wal = Path(db + "-wal")
    # Past SQLite's 1,000-page auto-checkpoint, which would have restarted the WAL long ago.
    assert writer.inline_commits == 1200 and wal.stat().st_size > 1100 * 4096
    writer.checkpoint()
    assert writer.inline_commits == 0
    writer.add(rec.id, 2_000_000.0, ProbeResult(True, 1.0))
    assert writer.commit_inline(writer.prepare(writer.take()))
    probe = sqlite3.connect(db)
    busy, wal_frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert wal_frames < 10, wal_frames  # the WAL started over: everything before was copied back
    probe.close()
    writer.close()
    assert len(recent_results(store, rec.id, 2000)) == 1201


def test_a_removed_target_leaves_no_queued_rows_or_rollups(store, settings: Settings) -> None:
    from engine.commands import Commands
    from engine.store.models import Result, Rollup

    cmds = Commands(store, settings)
    gone = cmds.add_target("tcp://127.0.0.1:9", name="gone")
    kept = cmds.add_target("tcp://127.0.0.1:10", name="kept")
    writer = ResultWriter(store)
    for i in range(3):
        writer.add(gone.id, 1_000_000.0 + i, ProbeResult(True, 1.0))
        writer.add(kept.id, 1_000_000.0 + i, ProbeResult(True, 1.0))
    batch = writer.take()
    writer.commit(writer.prepare(batch[:2]), rollups=False)  # counted, not yet upserted
    writer.pending = batch[2:]  # still queued when the target is removed
    writer.forget(gone.id)
    assert writer.flush() == 2  # the rest of `kept`'s rows; none of `gone`'s
    with store.session() as s:
        ids = {r.target_id for r in s.exec(select(Result))}
        rolled = {r.target_id for r in s.exec(select(Rollup))}
    assert rolled == {kept.id}  # `gone`'s one committed row was counted: forgotten with it
    assert ids == {gone.id, kept.id}  # rows committed before the removal are its delete's job


async def test_rows_a_late_batch_adds_after_a_removal_are_purged(store, settings: Settings) -> None:
    """A batch already in the writer thread when its target is deleted commits after the delete;
    the engine's next write removes what it left, and leaves other targets' rows alone."""
    from engine.store.models import Result, Rollup

    engine = Engine(settings, store)
    gone = engine.commands.add_target("tcp://127.0.0.1:9", name="gone", interval="1h")
    kept = engine.commands.add_target("tcp://127.0.0.1:10", name="kept", interval="1h")

    def rows() -> tuple[set[str], set[str]]:
        with store.session() as s:
            return (
                {r.target_id for r in s.exec(select(Result))},
                {r.target_id for r in s.exec(select(Rollup))},
            )

    # The writer thread's commit waits at a gate, so the delete lands while its batch is in hand.
    gate = threading.Event()
    commit = engine.writer.commit

    def gated_commit(rows_: list, rollups: bool | None = None) -> int:
        gate.wait(10)
        return commit(rows_, rollups=True)

    engine.writer.commit = gated_commit  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        for i in range(300):  # more than an inline commit takes: the batch goes to the thread
            engine.writer.add(gone.id, 1_000_000.0 + i, ProbeResult(True, 1.0))
            engine.writer.add(kept.id, 1_000_000.0 + i, ProbeResult(True, 1.0))
        first = asyncio.ensure_future(engine.committed())
        with anyio.fail_after(5):
            while engine.writer.pending:
                await anyio.sleep(0.01)
        await anyio.to_thread.run_sync(lambda: engine.commands.remove_target(gone.id))
        await anyio.sleep(0.05)  # the removal reaches the engine while the batch is still held
        gate.set()
        await first
        assert gone.id in rows()[0]  # the race's leftovers, until the next write
        with anyio.fail_after(5):
            while gone.id in rows()[0] | rows()[1]:
                await engine.committed()
        engine.stop()
    results, rollups = rows()
    assert gone.id not in results and gone.id not in rollups
    assert kept.id in results and kept.id in rollups


def test_retention_keeps_rollups_longer_than_raw(store, settings: Settings) -> None:
    from engine.commands import Commands

    rec = Commands(store, settings).add_target("tcp://127.0.0.1:9", name="old")
    writer = ResultWriter(store)
    now = time.time()
    for age_days in (1, 10, 100):
        writer.add(rec.id, now - age_days * 86400, ProbeResult(True, 1.0))
    writer.flush()
    removed = housekeeping(store, raw_days=7, rollup_days=90, now=now)
    assert removed == {"results": 2, "rollups": 1}
    assert len(recent_results(store, rec.id, 100)) == 1
    assert (
        uptime(store, rec.id, 30 * 86400, now) == 1.0
    )  # the 10-day-old hour survives as a roll-up


# ---- the engine end to end -----------------------------------------------------------------------


async def test_engine_probes_real_listener_goes_down_and_recovers(
    store, settings: Settings
) -> None:
    sqlite_only(store, "it reads the SQLite file from a second connection")
    settings.engine.failure_threshold = 2
    settings.engine.result_batch_ms = 20
    lsock, port = _listener()
    rec = await anyio.to_thread.run_sync(
        lambda: Engine(settings, store).commands.add_target(
            f"tcp://127.0.0.1:{port}", name="svc", interval="0.3s", timeout="0.3s"
        )
    )
    engine = Engine(settings, store)
    sub = engine.events.subscribe()
    states: list[str] = []
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        with anyio.fail_after(10):
            while engine.targets[rec.id].state != "up":
                await anyio.sleep(0.05)
        lsock.close()
        with anyio.fail_after(10):
            while engine.targets[rec.id].state != "down":
                await anyio.sleep(0.05)
        engine.stop()
    events = await sub.get_batch(10_000)
    for ev in events:
        if isinstance(ev, StateEvent) and ev.target_id == rec.id:
            states.append(ev.new)
    assert any(isinstance(e, ResultEvent) and e.target_id == rec.id for e in events)
    assert states[:3] == ["up", "pending", "down"]
    # Results and runtime state were committed.
    db = settings.database_url.removeprefix("sqlite:///")
    con = sqlite3.connect(db)
    n = con.execute("SELECT COUNT(*) FROM results WHERE target_id = ?", (rec.id,)).fetchone()[0]
    state = con.execute("SELECT state FROM targets WHERE id = ?", (rec.id,)).fetchone()[0]
    con.close()
    assert n >= 3 and state == "down"


async def test_engine_resumes_state_after_restart(store, settings: Settings) -> None:
    lsock, port = _listener()
    cmds = Engine(settings, store).commands
    rec = cmds.add_target(f"tcp://127.0.0.1:{port}", name="resume", interval="0.2s")
    engine = Engine(settings, store)
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        with anyio.fail_after(10):
            while engine.targets[rec.id].state != "up":
                await anyio.sleep(0.05)
        engine.stop()
    again = Engine(settings, store)
    await anyio.to_thread.run_sync(again._load)
    assert again.targets[rec.id].state == "up"
    lsock.close()


async def test_add_and_pause_reach_a_running_engine(store, settings: Settings) -> None:
    lsock, port = _listener()
    engine = Engine(settings, store)
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        rec = await anyio.to_thread.run_sync(
            lambda: engine.commands.add_target(
                f"tcp://127.0.0.1:{port}", name="late", interval="0.2s"
            )
        )
        with anyio.fail_after(10):
            while engine.targets.get(rec.id) is None or engine.targets[rec.id].state != "up":
                await anyio.sleep(0.05)
        await anyio.to_thread.run_sync(lambda: engine.commands.pause_target("late"))
        with anyio.fail_after(5):
            while engine.display_state(engine.targets[rec.id]) != "paused":
                await anyio.sleep(0.05)
        # One target's shown state, by name or id, without computing every target's.
        assert engine.commands.target_states(target="late") == {rec.id: "paused"}
        assert engine.commands.target_states(target=rec.id) == {rec.id: "paused"}
        done = engine.scheduler.completed
        await anyio.sleep(0.5)
        assert engine.scheduler.completed - done <= 1
        engine.stop()
    lsock.close()


def test_retention_ends_old_history_but_never_what_is_still_open(store, settings: Settings) -> None:
    """Resolved incidents with their notifications and receipts, old audit rows and benchmark
    runs go after history_days; an open incident of the same age and a queued notification stay
    (they grew forever before)."""
    from sqlalchemy import func, select

    from engine.commands import Commands
    from engine.notify import outbox
    from engine.store.models import AuditEntry, BenchmarkRun, Incident, Notification, Receipt
    from tests.test_telegram_receipt_race import _message

    cmds = Commands(store, settings)
    contact = cmds.add_contact("ops", "webhook:http://127.0.0.1:9/x")
    now = time.time()
    old = now - 400 * 86400
    with store.session() as s:
        s.add(
            Incident(id="inc-old", dedup_key="a", state="resolved", opened_at=old, resolved_at=old)
        )
        s.add(Incident(id="inc-open", dedup_key="b", state="firing", opened_at=old))
        s.add(
            Incident(id="inc-new", dedup_key="c", state="resolved", opened_at=now, resolved_at=now)
        )
        s.add(AuditEntry(ts=old, action="target.add"))
        s.add(BenchmarkRun(benchmark_id="b1", ts=old, score=1.0))
        s.add(BenchmarkRun(benchmark_id="b1", ts=now, score=1.0))
        s.commit()
    kept_pending = outbox.enqueue(store, contact["id"], "webhook", _message(), "inc-open", old)
    kept_sent = outbox.enqueue(store, contact["id"], "webhook", _message(), "inc-open", old)
    outbox.mark_sent(store, kept_sent, "m0", old)  # delivered long ago, its incident still open
    gone_sent = outbox.enqueue(store, contact["id"], "webhook", _message(), "inc-old", old)
    outbox.mark_sent(store, gone_sent, "m1", old)
    with store.session() as s:
        s.add(Receipt(id="r1", notification_id=gone_sent, read_at=old))
        s.commit()
    removed = housekeeping(store, 7, 90, now=now, history_days=365)
    assert removed["incidents"] == 1 and removed["notifications"] == 1
    assert removed["receipts"] == 1 and removed["audit"] == 1 and removed["benchmark_runs"] == 1
    with store.session() as s:
        assert {i for i in s.exec(select(Incident.id)).scalars()} == {"inc-open", "inc-new"}
        assert set(s.exec(select(Notification.id)).scalars()) == {kept_pending, kept_sent}
        assert s.exec(select(func.count()).select_from(BenchmarkRun)).scalar_one() == 1
        assert s.exec(select(func.count()).select_from(AuditEntry)).scalar_one() >= 1  # today's
    assert housekeeping(store, 7, 90, now=now, history_days=365)["incidents"] == 0


async def first_housekeeping(engine: Engine) -> None:
    """Wait for the engine's first housekeeping round and check it left /health green."""
    from engine.api.server import health_report

    with anyio.fail_after(5):
        while not engine.housekeeping_heartbeat:
            await anyio.sleep(0.01)
    assert health_report(engine)["parts"]["housekeeping"]["ok"]


async def test_a_failing_housekeeping_round_turns_health_red(store, settings: Settings) -> None:
    """The loop stamps its heartbeat each round; a round that fails (here: a table is gone)
    must still show in /health, and the next good round clears it."""
    from sqlalchemy import text

    from engine.api.server import health_report

    settings.retention.housekeeping_interval = 0.05
    engine = Engine(settings, store)
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        await first_housekeeping(engine)
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE benchmark_runs RENAME TO benchmark_runs_away"))
        with anyio.fail_after(5):
            while engine.housekeeping_error is None:
                await anyio.sleep(0.02)
        report = health_report(engine)
        assert "housekeeping" in report["failing"]
        # the driver's name for "no such table": OperationalError (SQLite), ProgrammingError (PG)
        assert report["parts"]["housekeeping"]["error"] in ("OperationalError", "ProgrammingError")
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE benchmark_runs_away RENAME TO benchmark_runs"))
        with anyio.fail_after(5):
            while engine.housekeeping_error is not None:
                await anyio.sleep(0.02)
        assert health_report(engine)["parts"]["housekeeping"]["ok"]
        engine.stop()
