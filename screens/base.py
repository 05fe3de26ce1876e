"""The base of every SysAlert screen: shared chrome, and commands run in thread workers.

A screen never calls the command layer on the event loop: `call()` runs it in a thread worker
that posts a `Reply` (or `Failed`) message back, and failures are turned into sentences in one
place (`on_failed`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from engine import SysAlertError
from screens.chrome import NavBar, StatusBar
from screens.context import ConsoleContext, context
from screens.dialogs import ConfirmScreen
from screens.fmt import error_sentence
from screens.keyed_table import KeyedTable
from screens.messages import EngineEvents, Failed, Reply

log = logging.getLogger("sysalert.console")


class Unavailable(SysAlertError):
    """The engine in use does not offer this command (yet)."""


async def _await(value: Any) -> Any:
    return await value


class EngineScreen(Screen[Any]):
    SCOPE = ""
    NAV = ""  # which navigation entry is highlighted
    nav_title = ""  # shown after the navigation entries (the target's name on its detail)
    LISTENS = False  # receives EngineEvents from the App

    def compose(self) -> ComposeResult:
        yield NavBar(self.NAV or self.SCOPE, self.nav_title)
        yield from self.compose_body()
        yield StatusBar()
        yield Footer(compact=True, show_command_palette=False)

    def compose_body(self) -> Iterable[Widget]:
        return ()

    @property
    def ctx(self) -> ConsoleContext:
        return context(self.app)

    @property
    def commands(self) -> Any:
        return self.ctx.backend.commands

    def has_command(self, method: str) -> bool:
        return getattr(self.commands, method, None) is not None

    def on_mount(self) -> None:
        if self.LISTENS:
            self.ctx.listen(self)

    def on_unmount(self) -> None:
        if self.LISTENS:
            self.ctx.unlisten(self)

    # ---- commands in thread workers -----------------------------------------------------------
    def call(
        self,
        method: str,
        *args: Any,
        then: Callable[[Any], None] | None = None,
        fail: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run `commands.<method>(*args, **kwargs)` in a thread; `then(result)` on the loop."""

        def job() -> Any:
            fn = getattr(self.commands, method, None)
            if fn is None:
                raise Unavailable(f"this engine does not offer {method.replace('_', ' ')}", None)
            return fn(*args, **kwargs)

        self._run_job(job, then, fail, method)

    def call_fn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        then: Callable[[Any], None] | None = None,
        fail: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run several commands in one thread job (`fn(*args)`), e.g. a load of three queries."""
        self._run_job(lambda: fn(*args), then, fail, getattr(fn, "__name__", "job"))

    @work(thread=True, exit_on_error=False, group="commands")
    def _run_job(
        self,
        job: Callable[[], Any],
        then: Callable[[Any], None] | None,
        fail: Callable[[BaseException], None] | None,
        name: str,
    ) -> None:
        try:
            value = job()
            if inspect.isawaitable(value):
                value = self.app.call_from_thread(_await, value)
        except Exception as exc:
            if not isinstance(exc, SysAlertError):
                log.exception("console command %s failed", name)
            self.post_message(Failed(fail, exc))
            return
        self.post_message(Reply(then, value))

    def optional(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """For thread jobs: a command that this engine may lack (or refuse); None when so."""
        fn = getattr(self.commands, method, None)
        if fn is None:
            return None
        try:
            return fn(*args, **kwargs)
        except SysAlertError:
            return None

    @on(Reply)
    def _on_reply(self, message: Reply) -> None:
        message.stop()
        if message.then is not None:
            message.then(message.value)

    @on(Failed)
    def _on_failed(self, message: Failed) -> None:
        message.stop()
        if message.fail is not None:
            message.fail(message.error)
        else:
            self.notify(error_sentence(message.error), severity="error", timeout=6)

    def on_engine_events(self, message: EngineEvents) -> None:
        """Screens that listen override this; the default ignores events."""

    # ---- the confirm, act, say-so-and-reload pattern of every list ------------------------------
    def ask_then_call(self, question: str, verb: str, method: str, *args: Any, done: str) -> None:
        """Ask first; on yes run `method(*args)` in a worker, then say `done` and reload."""

        def answered(yes: bool | None) -> None:
            if yes:
                self.call(method, *args, then=lambda _: self.done(done))

        self.app.push_screen(ConfirmScreen(question, verb), answered)

    def done(self, text: str) -> None:
        self.notify(text)
        self.reload_data()

    def reload_data(self) -> None:
        """Fetch what the screen shows again (after a change made from it)."""


class ListScreen(EngineScreen):
    """A screen that is one info line, one table and an empty-state line, reloaded on show.

    A subclass names its list command, its texts and how an item becomes cells; loading,
    failures, the cursor, the empty state and "which row is selected" are done here once."""

    TABLE_ID = ""
    INFO_ID = ""
    EMPTY_ID = ""
    COLUMNS: tuple[str, ...] = ()
    LOADING = "Loading…"
    LIST_COMMAND = ""  # the command layer's list method
    EMPTY = ""  # the empty state's sentence: what to press to add one
    MISSING = ""  # when the engine in use does not offer LIST_COMMAND
    NOUN = "row"  # "No rule selected."

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self.LOADING, id=self.INFO_ID, classes="info-line")
        table = KeyedTable(id=self.TABLE_ID, cursor_type="row")
        table.add_columns(*self.COLUMNS)
        yield table
        yield Static("", id=self.EMPTY_ID, classes="empty")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(f"#{self.TABLE_ID}", KeyedTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def reload_data(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.call(self.LIST_COMMAND, then=self._loaded, fail=self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.items = []
        self._fill(self.MISSING if isinstance(exc, Unavailable) else error_sentence(exc))

    def _loaded(self, items: Any) -> None:
        self.items = [dict(i) for i in items or []]
        self._fill(self.EMPTY)

    def cells(self, item: dict[str, Any]) -> Sequence[Any]:
        raise NotImplementedError

    def info(self) -> str:
        return ""

    def _fill(self, empty_text: str) -> None:
        table = self.table
        table.fill((self.key(item), self.cells(item)) for item in self.items)
        empty = self.query_one(f"#{self.EMPTY_ID}", Static)
        empty.update(empty_text)
        empty.display = not self.items
        table.display = bool(self.items)
        self.query_one(f"#{self.INFO_ID}", Static).update(self.info())

    @staticmethod
    def key(item: dict[str, Any]) -> str:
        return str(item.get("id") or item.get("name"))

    def selected(self) -> dict[str, Any] | None:
        """The item of the highlighted row (by its key, never by its position), or a warning
        that there is none."""
        key = self.table.cursor_key
        item = next((i for i in self.items if self.key(i) == key), None)
        if item is None:
            self.notify(f"No {self.NOUN} selected.", severity="warning")
        return item
