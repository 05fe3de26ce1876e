"""A deterministic world for the console's snapshot and pilot tests.

Fixed master key, fixed ids, fixed timestamps around FIXED_NOW and a frozen clock, so every
screen renders the same text on every run (the data is built in console_world.py). Every target
points at 127.0.0.1, so a test that starts the engine probes nothing beyond loopback.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from engine.config.settings import Settings
from engine.runtime.engine import Engine
from engine.runtime.facade import EmbeddedBackend
from engine.store import targets as tstore
from engine.store.store import Store
from tests.console_world import (
    FIXED_NOW,
    MASTER,
    MASTER_B64,
    TARGETS,
    build_world,
    fixture_settings,
    frozen_clock,
    open_fixture_store,
)

__all__ = [
    "FIXED_NOW",
    "MASTER",
    "MASTER_B64",
    "TARGETS",
    "World",
    "build_world",
    "fixture_settings",
    "fresh_world",
    "frozen_clock",
    "make_app",
    "make_engine",
    "open_fixture_store",
    "settle",
    "shown",
    "template_dir",
    "wait_until",
    "world",
]


@dataclass
class World:
    settings: Settings
    store: Store
    engine: Engine
    backend: EmbeddedBackend


def make_engine(settings: Settings, store: Store, clock: Any = frozen_clock) -> Engine:
    """An engine that knows every target and window but is not started: nothing is probed.
    Tests that start it pass the real clock: windows and incidents are stamped with real time."""
    engine = Engine(settings, store, mode="embedded", clock=clock)
    for rec in tstore.load_all(store):
        engine.target_changed(rec.id)
    engine.alerting.reload_maintenance(FIXED_NOW)  # what run() does first
    return engine


def world(data_dir: Path) -> World:
    settings, store = build_world(data_dir)
    engine = make_engine(settings, store)
    return World(settings, store, engine, EmbeddedBackend(engine))


def make_app(backend: EmbeddedBackend, **kw: Any) -> Any:
    """The console App on the frozen clock, UTC, no animation, no blinking cursor."""
    from sysalert_tui.app import SysAlertApp

    app = SysAlertApp(
        backend, clock=frozen_clock, tz=UTC, operator="tester", cursor_blink=False, **kw
    )
    app.animation_level = "none"
    return app


INTERACTIVE = ("telegram-login",)  # workers that wait for the operator: never waited for


async def settle(pilot: Any, quiet: int = 2) -> None:
    """Let command workers finish and their replies land (a reply may start another worker).
    The event pump, the engine and workers waiting for the operator are not waited for."""
    calm = 0
    while calm < quiet:
        await pilot.pause()
        busy = [
            w
            for w in pilot.app.workers
            if w.name not in ("events", "engine")
            and w.group not in INTERACTIVE
            and not w.is_finished
        ]
        if busy:
            calm = 0
            await pilot.app.workers.wait_for_complete(busy)
        else:
            calm += 1


def shown(widget: Any) -> str:
    """The text a widget shows, line by line as on screen (a Rich grid, with its hanging
    indents, becomes text only at the widget's width). Read it after a pause: an update is laid
    out at the next refresh."""
    from textual.geometry import Region

    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text.rstrip() for strip in strips)


async def wait_until(pilot: Any, predicate: Any, timeout: float = 5.0) -> None:
    """Poll the app until predicate() holds (engine events and workers are asynchronous)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached within the timeout")
        await pilot.pause(0.02)


@functools.cache
def template_dir() -> Path:
    """The fixture store, built once per test process; every test works on its own copy."""
    base = Path(tempfile.mkdtemp(prefix="sysalert-console-"))
    atexit.register(shutil.rmtree, base, True)
    _, store = build_world(base / "data")
    store.close()
    return base / "data"


@contextmanager
def fresh_world(tmp_path: Path, live: bool = False) -> Iterator[World]:
    """A copy of the fixture store; `live` for an engine the test will start (real clock)."""
    d = tmp_path / "data"
    shutil.copytree(template_dir(), d)
    settings = fixture_settings(d)
    store = open_fixture_store(settings)
    engine = make_engine(settings, store, time.time if live else frozen_clock)
    try:
        yield World(settings, store, engine, EmbeddedBackend(engine))
    finally:
        store.close()
