"""The Engine's loop port: a real engine on its own thread and loop, reached from another thread
(call_in_loop, snapshot) and from another event loop (run_in_loop); and an embedded engine leaves
the process's tuning alone (that is the daemon's)."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator

import anyio
import pytest

from engine.config.settings import Settings
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file


@pytest.fixture
def running(settings: Settings) -> Iterator[tuple[Engine, threading.Thread]]:
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    settings.engine.seed_local_targets = False
    store = open_store(settings)
    engine = Engine(settings, store, mode="embedded")
    started = threading.Event()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            started.set()

    thread = threading.Thread(target=anyio.run, args=(main,), daemon=True)
    thread.start()
    assert started.wait(30), "engine did not start"
    try:
        yield engine, thread
    finally:
        loop = engine.loop
        assert loop is not None
        loop.call_soon_threadsafe(engine.stop)
        thread.join(30)
        store.close()


def test_another_thread_reaches_the_loop_through_the_port(
    running: tuple[Engine, threading.Thread],
) -> None:
    engine, thread = running
    assert engine.loop is not None and engine.loop.is_running()
    ran_on: list[int | None] = []
    done = threading.Event()

    def mark() -> None:
        ran_on.append(threading.current_thread().ident)
        done.set()

    engine.call_in_loop(mark)
    assert done.wait(10) and ran_on == [thread.ident]
    assert engine.on_loop(lambda: threading.current_thread().ident) == thread.ident
    assert engine.snapshot() == list(engine.targets.values())

    async def where() -> int | None:
        await asyncio.sleep(0)
        return threading.current_thread().ident

    # From a second event loop (the console's, say): the coroutine runs on the engine's.
    assert asyncio.run(engine.run_in_loop(where)) == thread.ident


def test_an_embedded_engine_leaves_the_process_tuning_alone(
    running: tuple[Engine, threading.Thread],
) -> None:
    engine, _ = running
    assert engine.running
    assert sys.getswitchinterval() != 0.0005 and gc.get_threshold()[0] != 20_000
