"""History: state changes, incidents, maintenance and audit events, newest first.

The screen holds the window of events it shows (`history_page`, screens/list_window.py), never
the list: scrolling back a year, or End to the oldest of 100,000 events, reads a window there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from engine import STATE_SYMBOLS, BadInput, parse_duration
from screens.actions import bindings_for
from screens.dialogs import Field, FieldsDialog
from screens.fmt import STATE_STYLES, when
from screens.list_window import WindowedScreen
from screens.virtual_table import Column, VirtualTable

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


class HistoryScreen(WindowedScreen):
    """Newest first, a window at a time (`history_page`): End is the oldest of 100,000 events."""

    SCOPE = "history"
    LISTENS = True
    BINDINGS = bindings_for("history")
    TABLE_ID = "history"
    RELOAD_ON = frozenset(RELOAD_ON)

    def __init__(self) -> None:
        super().__init__()
        self.target: str | None = None
        self.kind: str | None = None
        self.before: float | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="history-info", classes="info-line")
        yield VirtualTable(COLUMNS, self.rows, "Loading history…", id="history")

    # ---- rows -------------------------------------------------------------------------------------
    def row_key(self, row: Any) -> str:
        return event_key(row)

    def row_cells(self, e: Any) -> Sequence[str | Text]:
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
            when(e["ts"], self.ctx.tz),
            text,
            e.get("target") or e.get("ref") or "",
            e.get("actor") or "",
            e.get("detail") or "",
        )

    # ---- windows ----------------------------------------------------------------------------------
    def fetch_window(self, offset: int, limit: int, around: str | None) -> Any:
        return self.commands.history_page(
            target=self.target, kind=self.kind, before=self.before, offset=offset, limit=limit
        )

    def window_loaded(self, page: Any) -> None:
        self.table.empty = self._empty_text()
        self._show_info()

    def reload(self, offset: int | None = None, new: bool = False) -> None:
        super().reload(offset, new)
        if new:
            self._show_info()

    def _empty_text(self) -> str:
        if self.target or self.kind or self.before:
            return "No events match. Press g for the newest events with no filter."
        return "No events yet: they appear as targets change state and alerts open."

    def _show_info(self) -> None:
        n = self.rows.total
        parts = [f"{n} event{'' if n == 1 else 's'}" if self.rows.loaded else "… events"]
        parts.append(f"target {self.target}" if self.target else "all targets (/)")
        parts.append(f"kind {self.kind}" if self.kind else "all kinds (k)")
        if self.before:
            parts.append(f"before {when(self.before, self.ctx.tz)} (g: newest)")
        self.query_one("#history-info", Static).update(" " + " · ".join(parts))

    # ---- live -------------------------------------------------------------------------------------
    def follows_changes(self) -> bool:
        return self.before is None  # a window of the past does not change

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
                self.reload(new=True)

        self.app.push_screen(dialog, answered)

    def action_cycle_kind(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self.reload(new=True)

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
                self.reload(new=True)

        self.app.push_screen(dialog, answered)

    def action_newest(self) -> None:
        self.target = self.kind = self.before = None
        self.reload(new=True)
