"""Maintenance: every window (one-off and recurring), add and remove them, all targets at once.

The table holds the window it shows of the list (screens/list_window.py): 5,000 windows cost
what five do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from engine import NotFound, parse_duration, parse_window
from screens.actions import bindings_for
from screens.dialogs import Field, FieldsDialog, checked
from screens.fmt import when
from screens.list_window import WindowedScreen
from screens.virtual_table import Column, VirtualTable

EMPTY = "No maintenance windows. Press a to add one, or m to put every target in maintenance."
SCOPE_TEXT = {"all": "all targets", "tag": "tag", "target": "target"}
COLUMNS = (
    Column("Applies to", 14),
    Column("Kind", 7),
    Column("From", 16, drop=2),
    Column("Until / schedule", 22),
    Column("Reason", 0, drop=1),
)


class MaintenanceScreen(WindowedScreen):
    """Windows not yet over, every target's first, a window at a time (`maintenance_page`)."""

    SCOPE = "maintenance"
    LISTENS = True
    BINDINGS = bindings_for("maintenance")
    TABLE_ID = "windows"
    AROUND = True
    RELOAD_ON = frozenset({"maintenance"})

    def __init__(self) -> None:
        super().__init__()
        self.all_targets = 0  # windows covering every target now

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Loading maintenance windows…", id="maint-info", classes="info-line")
        yield VirtualTable(COLUMNS, self.rows, "Loading maintenance windows…", id="windows")

    @property
    def windows(self) -> list[Any]:
        """The windows held: the part of the list around the rows shown."""
        return self.rows.view

    # ---- rows -------------------------------------------------------------------------------------
    def row_key(self, w: Any) -> str:
        return str(w["id"])

    def row_cells(self, w: Any) -> Sequence[str | Text]:
        return self._cells(w, self.ctx.clock(), self.ctx.tz)

    @staticmethod
    def _cells(w: Any, now: float, tz: tzinfo) -> tuple[Any, ...]:
        scope = w.get("scope", "")
        applies = (
            "all targets"
            if scope == "all"
            else (f"tag {w.get('tag')}" if scope == "tag" else str(w.get("target") or "?"))
        )
        until = w.get("schedule") or (
            when(w["ends_at"], tz, now) if w.get("ends_at") else "until ended"
        )
        return (
            Text(applies, style="bold" if scope == "all" else ""),
            w.get("kind", ""),
            when(w.get("starts_at"), tz, now),
            until,
            w.get("reason") or "",
        )

    # ---- windows ----------------------------------------------------------------------------------
    def fetch_window(self, offset: int, limit: int, around: str | None) -> Any:
        return self.commands.maintenance_page(
            offset=offset, limit=limit, around=around, now=self.ctx.clock()
        )

    def window_loaded(self, page: Any) -> None:
        self.table.empty = EMPTY
        self.all_targets = int(page.get("all_targets") or 0)
        all_on = self.all_targets > 0
        n = self.rows.total
        info = Text(" All targets: ")
        info.append(
            "⚒ in maintenance" if all_on else "active", style="bold magenta" if all_on else "green"
        )
        info.append(f" (m toggles) · {n} window{'s' if n != 1 else ''}")
        self.query_one("#maint-info", Static).update(info)

    # ---- actions ------------------------------------------------------------------------------------
    def _selected(self) -> Any | None:
        return self.selected

    def action_add_window(self) -> None:
        self._window_dialog("Add a maintenance window", {}, None)

    def action_edit_window(self) -> None:
        """A window is changed by adding the new one, then removing the old one."""
        w = self._selected()
        if w is None:
            self.notify("No window selected.", severity="warning")
            return
        scope = w.get("scope")
        what = (
            "all"
            if scope == "all"
            else f"tag:{w.get('tag')}"
            if scope == "tag"
            else str(w.get("target") or "")
        )
        left = (w["ends_at"] - self.ctx.clock()) if w.get("ends_at") else None
        values = {
            "what": what,
            "duration": f"{max(60, int(left)) // 60}m" if left else "",
            "schedule": (w.get("schedule") or "").removeprefix("once "),
            "reason": w.get("reason") or "",
        }
        self._window_dialog("Change the maintenance window", values, w["id"])

    def _window_dialog(self, title: str, values: dict[str, str], replaces: str | None) -> None:
        dialog = FieldsDialog(
            title,
            [
                Field(
                    "what",
                    "Applies to:",
                    values.get("what", ""),
                    "a target name, tag:NAME, or all",
                    required=True,
                ),
                Field(
                    "duration",
                    "For:",
                    values.get("duration", ""),
                    "e.g. 2h (empty: until removed)",
                    checked(lambda v: parse_duration(v, "--for")),
                ),
                Field(
                    "schedule",
                    "Schedule:",
                    values.get("schedule", ""),
                    "mon-fri 22:00-23:30, cron 0 3 * * * for 1h",
                    checked(parse_window),
                ),
                Field(
                    "reason", "Reason:", values.get("reason", ""), "what is being done (optional)"
                ),
            ],
            hint="Probes keep running and history is kept; no incident opens and nothing is sent.",
        )

        def answered(v: dict[str, str] | None) -> None:
            if v:
                self.call_fn(self._save_window, v, replaces, then=self.done)

        self.app.push_screen(dialog, answered)

    def _save_window(self, v: dict[str, str], replaces: str | None) -> str:
        cmds = self.commands
        cmds.maintenance_on(
            what=v["what"],
            duration=v["duration"] or None,
            schedule=v["schedule"] or None,
            reason=v["reason"],
        )
        if replaces:
            with contextlib.suppress(NotFound):  # it ended while the form was open
                cmds.remove_window(replaces)
            return f"Maintenance window for {v['what']} changed."
        return f"Maintenance window added for {v['what']}."

    def action_remove_window(self) -> None:
        w = self._selected()
        if w is None:
            self.notify("No window selected.", severity="warning")
            return

        self.ask_then_call(
            "Remove this maintenance window?",
            "Remove",
            "remove_window",
            w["id"],
            done="Window removed.",
        )

    def action_toggle_all(self) -> None:
        self.call_fn(self._toggle_all, then=self.done)

    def _toggle_all(self) -> str:
        cmds = self.commands
        # Every target's windows come first in the list: its first page holds them.
        page = cmds.maintenance_page(limit=100)
        alls = [w for w in page["rows"] if w.get("scope") == "all"]
        if alls:
            for w in alls:
                cmds.remove_window(w["id"])
            return "Every target is active again."
        cmds.maintenance_on(what="all", reason="all targets, from the console")
        return "Every target is in maintenance: no alerts until you press m again."

    def reload_data(self) -> None:
        self.reload()
