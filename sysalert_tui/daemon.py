"""`sysalert --daemon`: the engine and its API, no screen. SIGTERM drains, SIGHUP reloads config."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from engine.core.errors import StoreBusy, SysAlertError

log = logging.getLogger("sysalert.daemon")


# How long an engine starting waits for the lock: a `sysalert ping` stored while no engine ran
# holds it for milliseconds; another engine holds it for good.
LOCK_WAIT_S = 3.0


class InstanceLock:
    """One engine per store: an exclusive lock file in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, trying again for up to `wait` seconds: `sysalert ping` holds it for a
        moment while no engine runs, and an engine starting then should not be refused."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
            os.close(fd)
            raise StoreBusy(
                f"another SysAlert engine already runs on this store (lock {self.path.name} is held)",
                "stop it first, or run `sysalert` to attach to it",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def apply_log_level(settings: Any, args: argparse.Namespace) -> None:
    """[general] log_level, unless --debug or SYSALERT_LOG_LEVEL says otherwise (they win, so a
    unit file or a shell can turn on debug without editing the config). SIGHUP applies it again."""
    if getattr(args, "debug", False) or os.environ.get("SYSALERT_LOG_LEVEL"):
        return
    root = logging.getLogger()
    root.setLevel(settings.general.log_level.upper())
    for noisy in ("telethon", "httpx", "httpcore", "uvicorn.access", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def run_daemon(args: argparse.Namespace) -> int:
    from sysalert_tui.cli import load_settings

    settings = load_settings(args)
    if args.listen:
        settings.api.listen = args.listen
    apply_log_level(settings, args)
    try:
        import uvloop  # noqa: F401

        backend: dict[str, Any] = {"use_uvloop": True}
    except ImportError:
        backend = {}
    try:
        return int(anyio.run(_main, args, settings, backend_options=backend))
    except BaseExceptionGroup as group:
        # The engine refused at start (a config entry that cannot be reconciled): that is the
        # user's error, one line and its exit code, not "internal error: ExceptionGroup".
        error = user_error(group)
        if error is None:
            raise
        raise error from None


def user_error(exc: BaseException) -> SysAlertError | None:
    """The first error of ours inside a task group's exception group, if any."""
    if isinstance(exc, SysAlertError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = user_error(inner)
            if found is not None:
                return found
    return None


async def _main(args: argparse.Namespace, settings: Any) -> int:
    from engine.api.serve import make_servers, run_servers, stop_servers
    from engine.runtime.bootstrap import open_store
    from engine.runtime.engine import Engine
    from engine.store.engine_lock import StoreLock
    from sysalert_tui.tuning import freeze_loaded, tune_process

    tune_process()
    lock = InstanceLock(settings.data_dir / "engine.lock")
    lock.acquire(wait=LOCK_WAIT_S)
    store = None
    store_lock: StoreLock | None = None
    try:  # from here on the lock, the store and the socket file are released on any exit
        store = open_store(settings)
        store_lock = StoreLock(store)
        store_lock.acquire()
        engine = Engine(settings, store, mode="daemon")
        engine.store_lock = store_lock
        tls = (settings.api.tls_cert, settings.api.tls_key) if settings.api.tls_cert else None
        servers = make_servers(engine, settings.socket_path, settings.api.listen or None, tls)
        log.info("daemon starting: %d API listener(s)", len(servers))
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            freeze_loaded()  # the targets are loaded once run() reports started
            tg.start_soon(run_servers, servers, settings.socket_path)
            with anyio.open_signal_receiver(
                signal.SIGTERM, signal.SIGINT, signal.SIGHUP
            ) as signals:
                print("sysalert daemon ready", file=sys.stderr, flush=True)
                async for sig in signals:
                    if sig == signal.SIGHUP:
                        await anyio.to_thread.run_sync(_reload, engine, args)
                        continue
                    log.info("signal %s: draining", signal.Signals(sig).name)
                    stop_servers(servers)
                    engine.stop()
                    break
    finally:
        if store_lock is not None:
            store_lock.release()
        if store is not None:
            store.close()
        with contextlib.suppress(FileNotFoundError):
            settings.socket_path.unlink()
        lock.release()
    log.info("daemon stopped cleanly")
    return 0


def _reload(engine: Any, args: argparse.Namespace) -> None:
    """SIGHUP: read the config again; a bad file is logged and the running config kept."""
    from sysalert_tui.cli import load_settings

    try:
        new = load_settings(args)
    except SysAlertError as exc:
        log.error("config reload rejected, keeping the running config: %s", exc)
        return
    if args.listen:
        new.api.listen = args.listen
    old = engine.settings
    apply_log_level(new, args)
    try:
        engine.reload_settings(new)
    except SysAlertError as exc:
        # Valid TOML whose targets cannot be reconciled (say, depends_on names no target; nothing
        # was written): go back to the running config rather than let the error end the daemon.
        log.error("config reload failed, keeping the running config: %s", exc)
        try:
            engine.reload_settings(old)
        except SysAlertError as again:
            log.error("restoring the running config failed too: %s", again)
        return
    log.info("config reloaded")
