"""`sysalert` with no command: pick the engine (attach to a daemon, or run one embedded) and open
the console.

One engine per store: when a daemon answers on the data directory's socket (or --connect is given)
the console attaches to it; otherwise it takes the store's instance lock and runs the engine inside
the console's own event loop, serving the same Unix-socket API so `sysalert target add ...` from
another shell reaches this engine.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio

from engine.config.settings import Settings
from engine.core.errors import StoreBusy, SysAlertError

log = logging.getLogger("sysalert.console")
ATTACH_WAIT_S = 5.0  # another process holds the lock: how long to wait for its socket to answer


class EmbeddedRuntime:
    """The engine and its Unix-socket API, run as one task inside the App's event loop."""

    def __init__(self, engine: Any, socket_path: Path | None) -> None:
        self.engine = engine
        self.socket_path = socket_path
        self._stop = anyio.Event()
        self.ready = False  # the engine has loaded its targets (its figures mean something)

    async def run(self) -> None:
        from engine.api.serve import make_servers, run_servers, stop_servers

        servers = make_servers(self.engine, self.socket_path, None)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self.engine.run)
                self.ready = True
                tg.start_soon(run_servers, servers, self.socket_path)
                await self._stop.wait()
                stop_servers(servers)
                self.engine.stop()
        finally:
            if self.socket_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.socket_path.unlink()

    def stop(self) -> None:
        self._stop.set()


def run_console(args: argparse.Namespace) -> int:
    from engine.api.client import connect_if_running
    from sysalert_tui.cli import load_settings

    settings = load_settings(args)
    _log_to_file(settings, bool(getattr(args, "debug", False)))
    remote = connect_if_running(
        settings, getattr(args, "connect", None), getattr(args, "api_key", None)
    )
    if remote is not None:
        return _run_attached(remote, settings)
    from sysalert_tui.daemon import LOCK_WAIT_S, InstanceLock

    notice = _first_run(settings)
    lock = InstanceLock(settings.data_dir / "engine.lock")
    try:
        lock.acquire(wait=LOCK_WAIT_S)
    except StoreBusy:
        remote = _wait_for_daemon(settings)
        if remote is None:
            raise
        return _run_attached(remote, settings)
    try:
        return _run_embedded(settings, notice)
    finally:
        lock.release()


def _first_run(settings: Settings) -> str | None:
    """A fresh machine: the same as `sysalert init` (config, 0600 key, store, local targets).
    Returns what the console says first: what was added and when it alerts."""
    from engine.security.crypto import ENV_MASTER_KEY, KEY_FILE_NAME

    has_key = bool(os.environ.get(ENV_MASTER_KEY)) or (settings.data_dir / KEY_FILE_NAME).exists()
    if has_key:
        return None
    from engine.commands.seeding import seeded_note
    from engine.runtime.bootstrap import init_data_dir

    res = init_data_dir(settings)
    key = f"; back up {res.key_path} (mode 0600)" if res.created_key and res.key_path else ""
    return (seeded_note(res.seeded) if res.seeded else "SysAlert is set up") + key


def _run_embedded(settings: Settings, notice: str | None = None) -> int:
    from engine.runtime.bootstrap import open_store
    from engine.runtime.engine import Engine
    from engine.runtime.facade import EmbeddedBackend
    from engine.store.engine_lock import StoreLock
    from sysalert_tui.app import SysAlertApp

    store = open_store(settings)
    store_lock = StoreLock(store)
    try:
        store_lock.acquire()  # a daemon elsewhere on this database: refuse, as on this host
        engine = Engine(settings, store, mode="embedded")
        engine.store_lock = store_lock
        # Before the screen opens: a depends_on naming no target is one line and exit 2, as for
        # the daemon, not an error inside the running app. The engine's own pass is then a no-op.
        engine.commands.reconcile_declared()
        runtime = EmbeddedRuntime(engine, settings.socket_path)
        app = SysAlertApp(
            EmbeddedBackend(engine), runtime=runtime, tz=_zone(settings), notice=notice
        )
        return int(app.run() or 0)
    finally:
        store_lock.release()
        store.close()


def _run_attached(remote: Any, settings: Settings) -> int:
    from engine.runtime.facade import AttachedBackend
    from sysalert_tui.app import SysAlertApp

    backend = AttachedBackend(remote)
    try:
        return int(SysAlertApp(backend, tz=_zone(settings)).run() or 0)
    finally:
        backend.close()


def _wait_for_daemon(settings: Settings) -> Any | None:
    """The lock is held: a daemon (or another console) is starting; attach once it answers."""
    from engine.api.client import connect_if_running

    deadline = time.monotonic() + ATTACH_WAIT_S
    while time.monotonic() < deadline:
        remote = connect_if_running(settings)
        if remote is not None:
            return remote
        time.sleep(0.2)
    return None


def _zone(settings: Settings) -> Any:
    try:
        return ZoneInfo(settings.general.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _log_to_file(settings: Settings, debug: bool) -> None:
    """While the screen is ours, log lines go to a file in the data directory, not the terminal."""
    from engine.security.privacy import configure_logging

    path = settings.data_dir / "console.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    except OSError as exc:
        raise SysAlertError(
            f"cannot write the console log in {path.parent}: {exc.strerror}",
            "check the data directory's owner and mode",
        ) from None
    level = (
        "DEBUG"
        if debug
        else os.environ.get("SYSALERT_LOG_LEVEL", settings.general.log_level.upper())
    )
    configure_logging(level, stream)
