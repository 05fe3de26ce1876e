"""Heartbeats inside the engine: pings change state and are committed; missed deadlines go down."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import text

from engine.config.settings import Settings
from engine.core.errors import BadInput
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from engine.store.store import Store

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(settings: Settings, db_url: str):
    """SQLite and, when it answers, the local PostgreSQL."""
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    settings.general.database_url = "" if db_url.startswith("sqlite") else db_url
    st = open_store(settings)
    yield st
    st.close()


async def test_a_start_alone_decides_nothing_whoever_looks_first(store, settings: Settings) -> None:
    """A /start on a never-pinged (or late) heartbeat leaves its state as it was, whether the
    deadline check runs before the run ends or not; the run's end decides. A run that never
    ends goes down after the grace."""
    clock = Clock(1_800_000_000.0)
    engine = Engine(settings, store, clock=clock)
    rec = engine.commands.target_record(
        engine.commands.add_target("heartbeat://job?every=1h&grace=5m", name="job").id
    )
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        hb, live = engine.alerting.heartbeats, engine.targets[rec.id]
        await hb.ping(rec.token, "start")
        hb.evaluate(live, clock.t + 1)  # the scheduler's deadline check, mid-run
        assert live.state == "unknown"
        clock.t += 30
        await hb.ping(rec.token, "success")
        assert live.state == "up"
        clock.t += 3600 + 60  # late: pending
        hb.evaluate(live, clock.t)
        assert live.state == "pending"
        await hb.ping(rec.token, "start")
        hb.evaluate(live, clock.t + 1)
        assert live.state == "pending"  # started late is still late, until it ends
        hb.evaluate(live, clock.t + 5 * 60 + 2)  # the run never ended within the grace
        assert live.state == "down"
        engine.stop()


async def test_ping_lifecycle_with_a_controlled_clock(store, settings: Settings) -> None:
    clock = Clock(1_800_000_000.0)
    engine = Engine(settings, store, clock=clock)
    rec = engine.commands.target_record(
        engine.commands.add_target("heartbeat://backup?every=1h&grace=5m", name="backup").id
    )
    assert rec.token and len(rec.token) >= 22
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        hb = engine.alerting.heartbeats
        live = engine.targets[rec.id]
        assert live.state == "unknown"
        hb.evaluate(live, clock.t + 10 * 3600)  # never pinged: never goes down by itself
        assert live.state == "unknown"
        assert await hb.ping(rec.token, "success") is live
        assert live.state == "up"
        clock.t += 3600 + 60  # past the period, inside the grace
        hb.evaluate(live, clock.t)
        assert live.state == "pending"
        clock.t += 5 * 60  # past period + grace
        hb.evaluate(live, clock.t)
        assert live.state == "down"
        clock.t += 60
        hb.evaluate(live, clock.t)
        assert live.state == "down"  # sticky until a success ping
        await hb.ping(rec.token, "start")
        assert live.state == "down"
        await hb.ping(rec.token, "exit", 0)
        assert live.state == "up"
        await hb.ping(rec.token, "fail")
        assert live.state == "down"
        await hb.ping(rec.token, "exit", 1)
        assert live.state == "down"
        await hb.ping(rec.token, "log")
        assert live.state == "down"
        with pytest.raises(BadInput):
            await hb.ping(rec.token, "exit", 256)
        assert await hb.ping("not-a-real-token-at-all", "success") is None
        engine.stop()
    # Every answered ping was committed: read back through a connection of its own.
    other = Store.open(settings.database_url, store.keys)
    try:
        with other.engine.connect() as conn:
            n = conn.execute(
                text("SELECT COUNT(*) FROM results WHERE target_id = :t"), {"t": rec.id}
            ).scalar_one()
    finally:
        other.close()
    assert n >= 7


async def test_down_heartbeat_opens_an_incident(store, settings: Settings) -> None:
    clock = Clock(1_800_000_000.0)
    engine = Engine(settings, store, clock=clock)
    rec = engine.commands.target_record(
        engine.commands.add_target("heartbeat://nightly?every=10m&grace=1m", name="nightly").id
    )
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        hb = engine.alerting.heartbeats
        await hb.ping(rec.token, "success")
        clock.t += 12 * 60
        hb.evaluate(engine.targets[rec.id], clock.t)
        with anyio.fail_after(5):
            while not engine.commands.list_incidents(state="firing"):
                await anyio.sleep(0.05)
        inc = engine.commands.list_incidents(state="firing")[0]
        assert inc["target"] == "nightly"
        engine.stop()
