"""One supervisor for every background task of the engine: nothing fails silently.

A task that raises (or returns: the loops are meant to run for ever) is logged with its full
traceback (the redaction filter applies to every record), restarted after a capped exponential
backoff, and counted as failing from its crash until it has run `stable_after` seconds again, so a
crash loop stays red between its restarts. A task failing for `alarm_after` seconds raises one
alarm through the `Alarms` port (the engine opens a local `engine` incident), cleared once the task
is healthy again. /health, `sysalert status`, the console's status bar and /metrics read `report()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from engine.core.faults import injected_raise

log = logging.getLogger(__name__)

# What each task does, for the log, /health and the incident (names are the API).
ROLES = {
    "scheduler": "probes and heartbeat deadlines",
    "writer": "result writer",
    "housekeeping": "retention and vacuum",
    "alerting": "state changes into incidents",
    "rules": "metric rules and maintenance boundaries",
    "escalation": "escalation, reminders and silences",
    "dispatcher": "outbox delivery",
    "telegram": "Telegram bridge",
    "benchmarks": "benchmark runner",
    "store-lock": "the store's engine lock",
    "watchdog": "outside watchdog pings",
}


class TaskExited(RuntimeError):
    """A task meant to run for the engine's life returned."""


class Alarms(Protocol):
    """What the supervisor needs from the engine: open and close the local `engine` incident."""

    async def task_failing(self, name: str, summary: str) -> None: ...

    async def task_recovered(self, name: str) -> None: ...


@dataclass
class TaskState:
    name: str
    running: bool = False  # its coroutine runs now (not waiting out a backoff)
    started_at: float = 0.0  # monotonic time of the latest (re)start
    restarts: int = 0
    last_error: str | None = None  # class name of the latest crash
    failing_since: float | None = None  # monotonic time of the first crash of this streak
    alarmed: bool = False

    def public(self, now: float) -> dict[str, Any]:
        failing = self.failing_since is not None
        state = "running" if not failing else ("restarting" if self.running else "down")
        return {
            "ok": not failing,
            "state": state,
            "restarts": self.restarts,
            "error": self.last_error if failing else None,
            "last_error": self.last_error,
            "failing_for_s": round(now - self.failing_since, 1) if failing else None,  # type: ignore[operator]
        }


class Supervisor:
    """Runs named tasks in a task group, restarting each on a crash."""

    def __init__(
        self,
        alarms: Alarms | None = None,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 5.0,
        alarm_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alarms = alarms
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.alarm_after = alarm_after
        self.clock = clock
        self.tasks: dict[str, TaskState] = {}

    def start(self, tg: Any, name: str, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run `fn()` under supervision in the task group `tg`."""
        self.tasks[name] = TaskState(name)
        tg.start_soon(self._keep, name, fn, name=f"sysalert-{name}")

    async def _keep(self, name: str, fn: Callable[[], Awaitable[Any]]) -> None:
        st = self.tasks[name]
        delay = self.backoff_initial
        while True:
            st.running, st.started_at = True, self.clock()
            try:
                injected_raise(name)
                await fn()
                raise TaskExited(f"the {name} task returned; it should run for the engine's life")
            except Exception as exc:  # cancellation is a BaseException and passes through
                st.running = False
                if st.failing_since is None:  # first crash after a healthy run: back off from 1 s
                    st.failing_since, delay = self.clock(), self.backoff_initial
                st.last_error = error_class(exc)
                log.error(
                    "task %s (%s) crashed: %s; restart %d in %.0fs",
                    name,
                    ROLES.get(name, name),
                    st.last_error,
                    st.restarts + 1,
                    delay,
                    exc_info=exc,
                )
            await anyio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
            st.restarts += 1
            log.info("task %s restarting (restart %d)", name, st.restarts)

    async def monitor(self, period: float = 1.0) -> None:
        """Clears tasks that ran long enough since their restart; raises and clears alarms."""
        while True:
            await anyio.sleep(period)
            now = self.clock()
            for st in list(self.tasks.values()):
                if st.failing_since is None:
                    continue
                if st.running and now - st.started_at >= self.stable_after:
                    st.failing_since = None
                    log.info("task %s is healthy again after %d restart(s)", st.name, st.restarts)
                    if st.alarmed:
                        await self._alarm(st, False)
                elif not st.alarmed and now - st.failing_since >= self.alarm_after:
                    await self._alarm(st, True)

    async def _alarm(self, st: TaskState, on: bool) -> None:
        if self.alarms is None:
            st.alarmed = on
            return
        try:
            if on:
                summary = (
                    f"SysAlert engine: {ROLES.get(st.name, st.name)} ({st.name}) keeps failing "
                    f"({st.last_error}, {st.restarts} restarts): see the daemon log"
                )
                await self.alarms.task_failing(st.name, summary)
            else:
                await self.alarms.task_recovered(st.name)
            st.alarmed = on
        except Exception as exc:  # the store may be what fails: try again next round
            log.error("engine incident for task %s not recorded: %s", st.name, error_class(exc))

    # ---- read from any thread -------------------------------------------------------------------
    def report(self) -> dict[str, dict[str, Any]]:
        now = self.clock()
        return {name: st.public(now) for name, st in list(self.tasks.items())}

    def failing(self) -> dict[str, str]:
        """Failing tasks with their last error class (empty when all is well)."""
        return {
            name: st.last_error or "?"
            for name, st in list(self.tasks.items())
            if st.failing_since is not None
        }

    def restarts(self) -> dict[str, int]:
        return {name: st.restarts for name, st in list(self.tasks.items())}


def error_class(exc: BaseException) -> str:
    """The class that names a failure; an exception group of one names what it holds."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return type(exc).__name__
