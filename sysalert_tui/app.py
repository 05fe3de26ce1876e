"""The Textual App: modes for the screens, the engine's event stream, the status figures, quit.

It knows nothing of how the engine was found (see console.py): it gets a backend (embedded or
attached), an optional runtime to run inside its event loop, and a clock (frozen in snapshots).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, ClassVar, Protocol

from textual import events, work
from textual.app import App
from textual.message import Message
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

import screens
from engine.api.acting import ActingAs, login_name
from engine.core.errors import SysAlertError
from engine.runtime.facade import ConsoleBackend
from screens.actions import bindings_for
from screens.alerts import AlertsScreen
from screens.benchmarks import BenchmarksScreen
from screens.contacts import ContactsScreen
from screens.engines import EnginesScreen
from screens.help import HelpScreen
from screens.history import HistoryScreen
from screens.maintenance import MaintenanceScreen
from screens.messages import EngineEvents
from screens.palette import ActionsProvider
from screens.rules import RulesScreen
from screens.subscribers import SubscribersScreen
from screens.targets import TargetsScreen

log = logging.getLogger("sysalert.console")
MAX_PENDING = 200_000  # events held between two flushes; beyond it the oldest are dropped


class Runtime(Protocol):
    """Something that runs inside the App's loop until stopped (the embedded engine + API)."""

    ready: bool  # started: until then the engine's figures (0 targets) say nothing

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class StatsFetched(Message):
    def __init__(self, stats: dict[str, Any], ready: bool) -> None:
        super().__init__()
        self.stats = stats
        self.ready = ready  # the runtime had loaded its targets before these figures were read


class SysAlertApp(App[int]):
    TITLE = "SysAlert"
    CSS_PATH: ClassVar[Any] = ["app.tcss", Path(screens.__file__).parent / "screens.tcss"]
    BINDINGS = [*bindings_for("global"), ("ctrl+c", "quit")]
    COMMANDS = App.COMMANDS | {ActionsProvider}
    MODES: ClassVar[dict[str, Any]] = {
        "targets": TargetsScreen,
        "alerts": AlertsScreen,
        "history": HistoryScreen,
        "maintenance": MaintenanceScreen,
        "benchmarks": BenchmarksScreen,
        "contacts": ContactsScreen,
        "subscribers": SubscribersScreen,
        "rules": RulesScreen,
        "engines": EnginesScreen,
    }

    stats: reactive[dict[str, Any]] = reactive(dict, always_update=True)

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        operator: str | None = None,
        runtime: Runtime | None = None,
        stats_every: float = 2.0,
        flush_every: float = 0.15,
        cursor_blink: bool = True,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.notice = notice  # said once at the start (the first start: what was set up)
        self.operator = operator or login_name()
        # Every audited change made from this console is recorded as its operator.
        if not isinstance(backend.commands, ActingAs):
            backend.commands = ActingAs(backend.commands, self.operator)
        self.backend = backend
        self.clock = clock
        self.tz = tz or UTC
        self.runtime = runtime
        self.stats_every = stats_every
        self.flush_every = flush_every
        self.cursor_blink = cursor_blink
        self._listeners: set[Any] = set()
        self._pending: list[dict[str, Any]] = []
        self._engine_worker: Worker[None] | None = None
        self._quitting = False
        self._runtime_error: str | None = None

    # ---- start -----------------------------------------------------------------------------------
    async def on_mount(self) -> None:
        if self.runtime is not None:
            self._engine_worker = self.run_worker(
                self.runtime.run(), name="engine", exit_on_error=False
            )
        self.run_worker(self._pump(), name="events", exit_on_error=False)
        self.set_interval(self.flush_every, self._hand_out_events)
        self.set_interval(self.stats_every, self.refresh_stats)
        self.refresh_stats()
        await self.switch_mode("targets")
        if self.notice:
            self.notify(self.notice, title="First start", timeout=30)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Snapshots want a steady cursor: with cursor_blink off, no input blinks."""
        if not self.cursor_blink and hasattr(event.widget, "cursor_blink"):
            event.widget.cursor_blink = False  # type: ignore[attr-defined]

    # ---- engine events: gathered, then handed out at most every `flush_every` seconds --------------
    def listen(self, node: Any) -> None:
        self._listeners.add(node)

    def unlisten(self, node: Any) -> None:
        self._listeners.discard(node)

    async def _pump(self) -> None:
        async for batch in self.backend.event_batches():
            self._pending.extend(batch)
            if len(self._pending) > MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING]

    def _hand_out_events(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        for node in list(self._listeners):
            node.post_message(EngineEvents(batch))

    # ---- status bar figures ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def refresh_stats(self) -> None:
        ready = self.runtime is None or self.runtime.ready
        try:
            stats = self.backend.commands.engine_stats()
        except Exception as exc:
            stats = {"last_error": f"engine unreachable: {type(exc).__name__}"}
        self.post_message(StatsFetched(dict(stats), ready))

    def on_stats_fetched(self, message: StatsFetched) -> None:
        stats = message.stats
        if self._runtime_error:  # the engine's own figures cannot say that it stopped
            stats["last_error"] = self._runtime_error
        elif not message.ready:
            stats["starting"] = True  # ask again soon: the real figures follow the load
            self.set_timer(0.25, self.refresh_stats)
        self.stats = stats

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The engine or the event stream stopping on an error is said, not swallowed."""
        worker = event.worker
        if (
            worker.name in ("engine", "events")
            and event.state == WorkerState.ERROR
            and not self._quitting
        ):
            error = worker.error
            what = "the engine stopped" if worker.name == "engine" else "live updates stopped"
            sentence = str(error) if isinstance(error, SysAlertError) else type(error).__name__
            log.error("%s: %s", what, sentence)
            self._runtime_error = f"{what}: {sentence}"
            self.stats = {**self.stats, "last_error": self._runtime_error}
            self.notify(f"{what.capitalize()}: {sentence}", severity="error", timeout=10)

    # ---- global actions --------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Stop the embedded engine (it flushes what it holds) within a bound, then leave."""
        if self._quitting:
            return
        self._quitting = True
        worker = self._engine_worker
        if self.runtime is not None and worker is not None:
            self.runtime.stop()
            try:
                await asyncio.wait_for(asyncio.shield(worker.wait()), 2.5)
            except (TimeoutError, Exception):
                worker.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(worker.wait(), 1.0)
        self.exit(0)
