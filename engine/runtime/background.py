"""The Engine's housekeeping and store-lock loops, the supervisor's alarm port, and which
settings a SIGHUP cannot apply."""

from __future__ import annotations

import functools
import logging
from typing import Any

import anyio

from engine.config.settings import Settings
from engine.core.errors import StoreBusy
from engine.store.db import describe_error
from engine.store.history import housekeeping

log = logging.getLogger(__name__)


class Background:
    """Mixin of the Engine: the loops that keep the store tidy and the engine's lock held."""

    settings: Settings
    store: Any
    clock: Any
    store_lock: Any
    store_lock_error: str | None
    housekeeping_heartbeat: float
    housekeeping_error: str | None
    cluster: Any

    def _forget_engines(self) -> list[tuple[str, str]]:
        """The leader forgets engines not seen for `[engine] forget_after` (worker thread): one
        audit entry and one log line each, naming the engine's id (a hash, no host name)."""
        from engine.store import audit
        from engine.store.cluster import forget_engines

        gone = forget_engines(self.store, self.settings.engine.forget_after)
        for eid, loc in gone:
            log.info("cluster: forgot engine %s (%s), not seen for %.0f s", eid, loc,
                     self.settings.engine.forget_after)  # fmt: skip
            audit.record(
                self.store, "engine.forgotten", f"engine:{eid}", f"engine:{self.cluster.id}", loc
            )
        return gone

    async def _housekeeping_loop(self) -> None:
        while True:
            r = self.settings.retention  # read each round: SIGHUP may have changed it
            self.housekeeping_heartbeat = self.clock()
            try:
                removed = await anyio.to_thread.run_sync(
                    functools.partial(
                        housekeeping,
                        self.store,
                        r.raw_days,
                        r.rollup_days,
                        history_days=r.history_days,
                    )
                )
                if getattr(self, "cluster", None) is not None:  # leader-only, like this loop
                    removed["engines"] = len(await anyio.to_thread.run_sync(self._forget_engines))
                error = None
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception as exc:
                # The loop lives on, but /health says housekeeping fails until a round succeeds.
                error = type(exc).__name__
                log.error("housekeeping failed: %s", type(exc).__name__, exc_info=exc)
            self.housekeeping_error = error
            await anyio.sleep(r.housekeeping_interval)

    async def _lock_loop(self, period: float = 1.0) -> None:
        """Watch the store's engine lock. A PostgreSQL advisory lock dies with its connection (a
        server restart, `pg_terminate_backend`): /health turns red at once and the lock is taken
        again on a fresh connection. Taking it again is safe because it is a try-lock: if another
        engine took the store meanwhile it fails, and this engine stays red and says so."""
        lock = self.store_lock
        delay = period
        while True:
            await anyio.sleep(delay)
            if await anyio.to_thread.run_sync(lock.held):
                if self.store_lock_error is not None:
                    log.info("the store's engine lock is held again")
                self.store_lock_error, delay = None, period
                continue
            if self.store_lock_error is None:
                self.store_lock_error = "StoreLockLost"
                log.error("the store's engine lock was lost (its connection died); taking it again")
                continue  # a moment for the server to come back before reconnecting
            try:
                await anyio.to_thread.run_sync(lock.reacquire)
            except StoreBusy:
                self.store_lock_error = "StoreLockLost: another engine holds the store now"
                log.error("the store's engine lock is held by another engine: stop one of them")
            except Exception as exc:
                self.store_lock_error = f"StoreLockLost: {describe_error(exc)}"
                log.error("taking the store's engine lock again failed: %s", describe_error(exc))
            else:
                self.store_lock_error = None
                log.warning("the store's engine lock was lost and is held again")
                continue
            delay = min(delay * 2, 10.0)


class EngineAlarms:
    """The supervisor's port: a task failing for a minute opens one local `engine` incident (one
    per task, deduplicated) for every contact whose channel still works; recovery resolves it."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def task_failing(self, name: str, summary: str) -> None:
        al = self.engine.alerting
        skip = frozenset({"telegram"}) if name == "telegram" else frozenset()
        await anyio.to_thread.run_sync(
            functools.partial(
                al.open_local_incident,
                f"engine:{name}",
                "engine",
                summary,
                None,
                everyone=True,
                skip_channels=skip,
            )
        )
        al.dispatcher.wake()

    async def task_recovered(self, name: str) -> None:
        al = self.engine.alerting
        await anyio.to_thread.run_sync(al.resolve_local_incident, f"engine:{name}")
        al.dispatcher.wake()


RESTART_ONLY = (
    ("engine", "concurrency"),
    ("general", "database_url"),
    ("general", "data_dir"),
    ("api", "listen"),
    ("api", "socket"),
    ("api", "tls_cert"),
    ("api", "tls_key"),
)


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """The changed keys a SIGHUP cannot apply to a running engine."""
    return [
        f"{section}.{key}"
        for section, key in RESTART_ONLY
        if getattr(getattr(old, section), key) != getattr(getattr(new, section), key)
    ]
