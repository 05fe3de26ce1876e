"""History: state changes, incidents, maintenance and audit events, newest first, paged.

Pages come from the store with `history(before=...)` as the cursor nears the end, so scrolling
back a year never loads a year into memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import Static

from engine import STATE_SYMBOLS, BadInput, parse_duration
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import Field, FieldsDialog
from screens.fmt import STATE_STYLES, when
from screens.messages import EngineEvents
from screens.virtual_table import Column, VirtualTable

PAGE = 100
KINDS = (
    None,
    "state",
    "incident",
    "maintenance",
    "target",
    "contact",
    "notify",
    "telegram",
    "benchmark",
)
KIND_STYLES = {"state": "cyan", "incident": "red", "maintenance": "magenta", "target": "green"}
COLUMNS = (
    Column("Time", 16),
    Column("Event", 20),
    Column("Target", 0),
    Column("By", 8, drop=2),
    Column("Detail", 0, drop=1),
)
RELOAD_ON = {"state", "incident", "maintenance", "targets"}


def parse_when(text: str, now: float, tz: tzinfo) -> float:
    """'2h' (ago) or '2024-05-01 12:00' / '2024-05-01' (in the console's time zone)."""
    t = text.strip()
    if t and t[0].isdigit() and "-" in t:
        for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                return datetime.strptime(t, fmt).replace(tzinfo=tz).timestamp()
            except ValueError:
                continue
        raise BadInput(f"{text!r} is not a date", "write 2024-05-01 or 2024-05-01 12:00, or 2h")
    return now - parse_duration(t, "how far back")


def event_key(e: dict[str, Any]) -> str:
    """An event's key: the same event keeps it when newer ones arrive above it."""
    return f"{e['ts']:.6f}:{e['action']}:{e.get('ref') or ''}"


class HistoryRows:
    def __init__(self, screen: HistoryScreen) -> None:
        self.screen = screen
        self.items: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.items)

    def row_key(self, index: int) -> str:
        return event_key(self.items[index])

    def index_of(self) -> dict[str, int]:
        """Key -> row, the first row of a key (two identical events read the same)."""
        out: dict[str, int] = {}
        for i, e in enumerate(self.items):
            out.setdefault(event_key(e), i)
        return out

    def row_version(self, index: int) -> int:
        return 0

    def row_cells(self, index: int) -> Sequence[str | Text]:
        e = self.items[index]
        kind = e.get("kind") or ""
        event = (e.get("action") or "").split(".", 1)[-1]
        text = Text(kind, style=KIND_STYLES.get(kind, ""))
        if kind == "state":
            text = Text("state → ", style="cyan")
            text.append(
                f"{STATE_SYMBOLS.get(event, '')} {event}", style=STATE_STYLES.get(event, "")
            )
        else:
            text.append(f" {event}")
        return (
            when(e["ts"], self.screen.ctx.tz),
            text,
            e.get("target") or e.get("ref") or "",
            e.get("actor") or "",
            e.get("detail") or "",
        )


class HistoryScreen(EngineScreen):
    SCOPE = "history"
    LISTENS = True
    BINDINGS = bindings_for("history")

    def __init__(self) -> None:
        super().__init__()
        self.rows = HistoryRows(self)
        self.target: str | None = None
        self.kind: str | None = None
        self.before: float | None = None
        self.exhausted = False
        self._paging = False
        self._dirty = False
        self._generation = 0  # a reload makes pages still in flight for old filters stale
        self._keep: str | None = None  # the event under the cursor when a reload began

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="history-info", classes="info-line")
        yield VirtualTable(COLUMNS, self.rows, "Loading history…", id="history")

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#history", VirtualTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        if self._dirty:
            self.reload()

    # ---- paging ----------------------------------------------------------------------------------
    def reload(self) -> None:
        self._dirty = False
        self._generation += 1
        self._paging = False
        self._keep = self.table.cursor_key if self.rows.items else None
        self.rows.items = []
        self.exhausted = False
        self._show_info()
        self._page(self.before)

    def _page(self, before: float | None) -> None:
        if self._paging:
            return
        self._paging = True
        gen = self._generation

        def got(items: list[dict[str, Any]]) -> None:
            if gen == self._generation:
                self._got_page(items)

        self.call(
            "history",
            target=self.target,
            kind=self.kind,
            before=before,
            limit=PAGE,
            then=got,
            fail=self._page_failed,
        )

    def _got_page(self, items: list[dict[str, Any]]) -> None:
        self._paging = False
        self.exhausted = len(items) < PAGE
        first = not self.rows.items  # the first page of a reload: the cursor's event is in _keep
        keep = self._keep if first else self.table.cursor_key
        self._keep = None
        self.rows.items.extend(items)
        self.table.empty = self._empty_text()
        index_of = self.rows.index_of()
        if first and keep not in index_of:
            self.table.cursor = 0  # other filters, or the event is gone: start at the newest
        self.table.rows_changed(keep, index_of)
        self._show_info()

    def _page_failed(self, exc: BaseException) -> None:
        from screens.fmt import error_sentence

        self._paging = False
        self.exhausted = True
        self.table.empty = error_sentence(exc)
        self.table.rows_changed()
        self.notify(error_sentence(exc), severity="error")

    @on(VirtualTable.Highlighted, "#history")
    def _near_end(self, event: VirtualTable.Highlighted) -> None:
        if not self.exhausted and event.index >= len(self.rows) - 20 and self.rows.items:
            self._page(self.rows.items[-1]["ts"])

    def _empty_text(self) -> str:
        if self.target or self.kind or self.before:
            return "No events match. Press g for the newest events with no filter."
        return "No events yet: they appear as targets change state and alerts open."

    def _show_info(self) -> None:
        parts = [f"{len(self.rows)} events{'' if self.exhausted else '+'}"]
        parts.append(f"target {self.target}" if self.target else "all targets (/)")
        parts.append(f"kind {self.kind}" if self.kind else "all kinds (k)")
        if self.before:
            parts.append(f"before {when(self.before, self.ctx.tz)} (g: newest)")
        self.query_one("#history-info", Static).update(" " + " · ".join(parts))

    # ---- live -------------------------------------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        if self.before is None and message.types() & RELOAD_ON:
            if self.is_current and self.table.scroll_offset.y == 0:  # the newest are in view
                self.reload()
            else:
                self._dirty = True

    # ---- filters ------------------------------------------------------------------------------------
    def action_filter_target(self) -> None:
        dialog = FieldsDialog(
            "Show the history of one target",
            [
                Field("target", "Target:", self.target or "", "name or id; empty for all targets"),
            ],
        )

        def answered(values: dict[str, str] | None) -> None:
            if values is not None:
                self.target = values["target"] or None
                self.reload()

        self.app.push_screen(dialog, answered)

    def action_cycle_kind(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self.reload()

    def action_jump_time(self) -> None:
        now = self.ctx.clock()

        def valid(value: str) -> str | None:
            try:
                parse_when(value, now, self.ctx.tz)
            except BadInput as exc:
                return str(exc)
            return None

        dialog = FieldsDialog(
            "Show events before…",
            [
                Field(
                    "when", "Before:", "1d", "2h (ago), 1d, 2024-05-01 12:00", valid, required=True
                ),
            ],
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                self.before = parse_when(values["when"], now, self.ctx.tz)
                self.reload()

        self.app.push_screen(dialog, answered)

    def action_newest(self) -> None:
        self.target = self.kind = self.before = None
        self.reload()
