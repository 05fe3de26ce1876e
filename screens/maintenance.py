"""Maintenance: every window (one-off and recurring), add and remove them, all targets at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine.durations import parse_duration
from engine.schedules import parse_window
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import ConfirmScreen, Field, FieldsDialog, checked
from screens.fmt import when
from screens.messages import EngineEvents

EMPTY = "No maintenance windows. Press a to add one, or m to put every target in maintenance."
SCOPE_TEXT = {"all": "all targets", "tag": "tag", "target": "target"}


class MaintenanceScreen(EngineScreen):
    SCOPE = "maintenance"
    LISTENS = True
    BINDINGS = bindings_for("maintenance")

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[dict[str, Any]] = []
        self._dirty = False

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Loading maintenance windows…", id="maint-info", classes="info-line")
        table: DataTable[Any] = DataTable(id="windows", cursor_type="row")
        table.add_columns("Applies to", "Kind", "From", "Until / schedule", "Reason")
        yield table
        yield Static("", id="maint-empty", classes="empty")

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#windows", DataTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        if self._dirty:
            self.reload()

    def reload(self) -> None:
        self._dirty = False
        self.call("list_maintenance", then=self._loaded)

    def _loaded(self, windows: list[dict[str, Any]]) -> None:
        self.windows = sorted(
            windows, key=lambda w: (w.get("scope") != "all", w.get("starts_at") or 0)
        )
        table = self.table
        row = table.cursor_row
        table.clear()
        now, tz = self.ctx.clock(), self.ctx.tz
        for w in self.windows:
            scope = w.get("scope", "")
            applies = (
                "all targets"
                if scope == "all"
                else (f"tag {w.get('tag')}" if scope == "tag" else str(w.get("target") or "?"))
            )
            until = w.get("schedule") or (
                when(w["ends_at"], tz, now) if w.get("ends_at") else "until ended"
            )
            table.add_row(
                Text(applies, style="bold" if scope == "all" else ""),
                w.get("kind", ""),
                when(w.get("starts_at"), tz, now),
                until,
                w.get("reason") or "",
                key=w["id"],
            )
        if self.windows:
            table.move_cursor(row=min(row, len(self.windows) - 1), animate=False)
        all_on = any(w.get("scope") == "all" for w in self.windows)
        info = Text(" All targets: ")
        info.append(
            "⚒ in maintenance" if all_on else "active", style="bold magenta" if all_on else "green"
        )
        info.append(
            f" (m toggles) · {len(self.windows)} window{'s' if len(self.windows) != 1 else ''}"
        )
        self.query_one("#maint-info", Static).update(info)
        empty = self.query_one("#maint-empty", Static)
        empty.update(EMPTY)
        empty.display = not self.windows
        table.display = bool(self.windows)

    def on_engine_events(self, message: EngineEvents) -> None:
        if "maintenance" in message.types():
            if self.is_current:
                self.reload()
            else:
                self._dirty = True

    # ---- actions ------------------------------------------------------------------------------------
    def _selected(self) -> dict[str, Any] | None:
        if not self.windows:
            return None
        return self.windows[min(self.table.cursor_row, len(self.windows) - 1)]

    def action_add_window(self) -> None:
        dialog = FieldsDialog(
            "Add a maintenance window",
            [
                Field("what", "Applies to:", "", "a target name, tag:NAME, or all", required=True),
                Field(
                    "duration",
                    "For:",
                    "",
                    "e.g. 2h (empty: until removed)",
                    checked(lambda v: parse_duration(v, "--for")),
                ),
                Field(
                    "schedule",
                    "Schedule:",
                    "",
                    "mon-fri 22:00-23:30, cron 0 3 * * * for 1h",
                    checked(parse_window),
                ),
                Field("reason", "Reason:", "", "what is being done (optional)"),
            ],
            hint="Probes keep running and history is kept; no incident opens and nothing is sent.",
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                self.call(
                    "maintenance_on",
                    what=values["what"],
                    duration=values["duration"] or None,
                    schedule=values["schedule"] or None,
                    reason=values["reason"],
                    then=lambda _: self._done(f"Maintenance window added for {values['what']}."),
                )

        self.app.push_screen(dialog, answered)

    def action_remove_window(self) -> None:
        w = self._selected()
        if w is None:
            self.notify("No window selected.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.call("remove_window", w["id"], then=lambda _: self._done("Window removed."))

        self.app.push_screen(ConfirmScreen("Remove this maintenance window?", "Remove"), answered)

    def action_toggle_all(self) -> None:
        self.call_fn(self._toggle_all, then=self._done)

    def _toggle_all(self) -> str:
        cmds = self.commands
        alls = [w for w in cmds.list_maintenance() if w.get("scope") == "all"]
        if alls:
            for w in alls:
                cmds.remove_window(w["id"])
            return "Every target is active again."
        cmds.maintenance_on(what="all", reason="all targets, from the console")
        return "Every target is in maintenance: no alerts until you press m again."

    def _done(self, text: str) -> None:
        self.notify(text)
        self.reload()
