"""What the engine's hot path writes, publishes and queues, against a real listener and a real
store: runtime state of a target that stays up goes to the store less often than a change does,
result events are built only for a reader that takes them, and a first success queues no
alerting step."""

from __future__ import annotations

import socket

import anyio
import pytest

import engine.runtime.results as results_path
from engine.checks.probes.base import ProbeResult
from engine.config.settings import Settings
from engine.core.events import EventBus, ResultEvent, StateEvent
from engine.core.state import Transition
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from engine.store import targets as tstore
from engine.store.store import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(settings: Settings, db_url: str):
    """The engine's store on a SQLite file and, when it answers, the local PostgreSQL."""
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    settings.general.database_url = "" if db_url.startswith("sqlite") else db_url
    st = open_store(settings)
    yield st
    st.close()


def test_the_bus_counts_the_readers_that_take_result_events() -> None:
    bus = EventBus()
    assert bus.result_readers == 0
    states = bus.subscribe(types={"state", "targets"})
    assert bus.result_readers == 0  # a reader of state events alone
    everything = bus.subscribe()
    results = bus.subscribe(types={"result"})
    assert bus.result_readers == 2
    bus.publish(ResultEvent(1.0, "t1", True, 0.2, None, "up"))
    bus.publish(StateEvent(1.0, "t1", "unknown", "up"))
    assert [len(s.buffer) for s in (states, everything, results)] == [1, 2, 1]
    everything.close()
    assert bus.result_readers == 1
    results.close()
    states.close()
    assert bus.result_readers == 0


async def test_a_target_that_stays_up_is_written_less_often_than_a_change(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_path, "QUIET_RUNTIME_S", 3600.0)
    settings.engine.result_batch_ms = 20
    settings.engine.failure_threshold = 1
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    port = lsock.getsockname()[1]
    rec = Engine(settings, store).commands.add_target(
        f"tcp://127.0.0.1:{port}", name="steady", interval="0.2s", timeout="0.2s"
    )
    engine = Engine(settings, store)

    def stored() -> tuple[str, float | None, int]:
        got = tstore.get(store, rec.id)
        assert got is not None
        return got.state, got.last_check_at, got.ok_streak

    async def until(cond, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
        with anyio.fail_after(timeout):
            while not await anyio.to_thread.run_sync(cond):
                await anyio.sleep(0.1)

    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        live = engine.targets[rec.id]
        # The change to up is written within the runtime period (2 s) ...
        await until(lambda: stored()[0] == "up")
        first = stored()
        # ... while the checks that keep it up stay in memory for now.
        await until(lambda: live.ok_streak >= first[2] + 15)
        await anyio.sleep(results_path.RUNTIME_S + 0.5)
        assert stored() == first
        assert live.last_check_at is not None and first[1] is not None
        assert live.last_check_at > first[1] + 1.0
        # The quiet write comes round: the stored row catches up.
        monkeypatch.setattr(results_path, "QUIET_RUNTIME_S", 0.5)
        await until(lambda: stored()[2] > first[2] + 10)
        # A failure is a change again: written within the runtime period.
        monkeypatch.setattr(results_path, "QUIET_RUNTIME_S", 3600.0)
        lsock.close()
        await until(lambda: stored()[0] == "down")
        engine.stop()
    # On stop every target's runtime state is written, whatever it was.
    state, last, _ = stored()
    assert state == "down" and last == engine.targets[rec.id].last_check_at


def test_a_first_success_queues_no_alerting_step_a_recovery_does(
    store: Store, settings: Settings
) -> None:
    engine = Engine(settings, store)
    rec = engine.commands.add_target("tcp://127.0.0.1:9", name="fresh")
    alerting = engine.alerting

    def queued() -> int:
        return int(alerting._recv.statistics().current_buffer_used)

    ok = ProbeResult(True, 0.2, 0.2)
    alerting.on_transition(rec, Transition("unknown", "up"), ok, 1.0)
    assert queued() == 0  # no audit, no incident: nothing for the worker thread
    alerting.on_transition(rec, Transition("unknown", "up", flapping_changed=True), ok, 2.0)
    alerting.on_transition(rec, Transition("unknown", "degraded"), ok, 3.0)
    alerting.on_transition(rec, Transition("down", "up"), ok, 4.0)
    assert queued() == 3


def test_steady_targets_are_written_a_minute_after_each_went_quiet_not_all_at_once(
    store: Store, settings: Settings
) -> None:
    """100,000 steady targets written in one batch held the writer and the GIL for seconds
    every minute (/health took 3.7 s then): each flush takes only those whose minute is up."""
    engine = Engine(settings, store)
    t0 = 1_000_000.0
    engine.quiet = {f"t{i}": t0 + i for i in range(1000)}  # went quiet one a second
    engine.clock = lambda: t0 + results_path.QUIET_RUNTIME_S + 499.5
    due = engine._quiet_due()
    assert due == [f"t{i}" for i in range(500)]  # oldest first, only those a minute old
    assert list(engine.quiet) == [f"t{i}" for i in range(500, 1000)]
    assert engine._quiet_due() == []  # nothing more until the next ones' minute is up
