"""Targets, the home screen: every target live, filtered and sorted, with the actions on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import Input, Static

from engine import NotFound
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import ConfirmScreen
from screens.messages import EngineEvents
from screens.subscribers import owner_labels
from screens.target_rows import COLUMNS, SPARK, TargetRows
from screens.virtual_table import VirtualTable

EMPTY = "No targets yet. Press a to add one (or run: sysalert target add tcp://host:port)."
NO_MATCH = "Nothing matches the filter. Press Esc to clear it."
FETCH_ALL_ABOVE = 200  # more changed targets than this at once: reload the whole list


class TargetsScreen(EngineScreen):
    SCOPE = "targets"
    LISTENS = True
    BINDINGS = bindings_for("targets")

    def __init__(self) -> None:
        super().__init__()
        self.rows = TargetRows(lambda: self.ctx.clock())
        self._spark_asked: set[str] = set()

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Loading targets…", id="targets-info", classes="info-line")
        yield Input(
            placeholder="filter by name, kind, tag, state or owner:1265 (Enter keeps, Esc clears)",
            id="filter",
            compact=True,
        )
        yield VirtualTable(COLUMNS, self.rows, "Loading targets…", id="targets")

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#targets", VirtualTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#filter", Input).display = False
        self.table.focus()
        self.reload()
        self.set_interval(1.0, self._tick)
        self.set_interval(60.0, self._reload_uptimes)
        # A fresh store has no roll-ups at start (they are written every 10 s): the first minute
        # would show "—" everywhere without this early look.
        self.set_timer(15.0, self._reload_uptimes)

    # ---- loading ----------------------------------------------------------------------------------
    def reload(self) -> None:
        self.call_fn(self._fetch_all, then=self._loaded)

    def _fetch_all(self) -> tuple[Any, dict[str, str], dict[str, float], dict[str, str]]:
        records = self.commands.list_targets()
        shown = self.optional("target_states") or {}
        uptimes = self.optional("uptimes", 86400, now=self.ctx.clock()) or {}
        owners = owner_labels(self.optional("list_subscribers"))
        return records, shown, uptimes, owners

    def _loaded(self, value: tuple[Any, dict[str, str], dict[str, float], dict[str, str]]) -> None:
        records, shown, uptimes, owners = value
        keep = self.table.cursor_key
        self.rows.owners = owners
        self.rows.load(records, shown, uptimes)
        self._rows_changed(keep)
        self._want_sparks()

    def _reload_uptimes(self) -> None:
        def job() -> Any:
            return self.optional("uptimes", 86400, now=self.ctx.clock()) or {}

        self.call_fn(job, then=self._got_uptimes)

    def _got_uptimes(self, uptimes: dict[str, float]) -> None:
        self.rows.set_uptimes(uptimes)
        self.table.redraw()

    def _want_sparks(self) -> None:
        """Recent latencies for the rows on screen only (a few queries, never one per target)."""
        if not self.rows.loaded:
            return
        view = self.rows.view
        ids = [
            view[i].id
            for i in self.table.visible_range()
            if not view[i].spark_loaded and view[i].id not in self._spark_asked
        ]
        if not ids:
            return
        self._spark_asked.update(ids)

        def job() -> dict[str, Any]:
            out = {}
            for tid in ids:
                res = self.optional("target_results", tid, limit=SPARK)
                if res is not None:
                    out[tid] = res
            return out

        self.call_fn(job, then=self._got_sparks)

    def _got_sparks(self, by_id: dict[str, Any]) -> None:
        for tid, results in by_id.items():
            self.rows.set_spark(tid, results)
        self.table.redraw()

    def _fetch_some(self, ids: set[str]) -> tuple[list[Any], list[str]]:
        found, gone = [], []
        for tid in ids:
            try:
                found.append(self.commands.get_target(tid))
            except NotFound:
                gone.append(tid)
        return found, gone

    def _got_some(self, value: tuple[list[Any], list[str]]) -> None:
        found, gone = value
        keep = self.table.cursor_key
        for rec in found:
            self.rows.upsert(rec)
        for tid in gone:
            self.rows.remove(tid)
        self._rows_changed(keep)
        self._want_sparks()

    # ---- live updates -----------------------------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        if not self.rows.loaded:
            return
        resort, fetch = self.rows.apply(message.events)
        if len(fetch) > FETCH_ALL_ABOVE:
            self.reload()
        elif fetch:
            self.call_fn(self._fetch_some, fetch, then=self._got_some)
        if resort:
            keep = self.table.cursor_key
            self.rows.rebuild()
            self._rows_changed(keep)
        else:
            self.table.redraw()

    def _tick(self) -> None:
        self.table.redraw(tick=True)
        self._want_sparks()

    def _rows_changed(self, keep: str | None) -> None:
        self.table.empty = NO_MATCH if self.rows.filter else EMPTY
        self.table.rows_changed(keep, self.rows.index_of)
        self._show_info()

    def _show_info(self) -> None:
        total = len(self.rows.rows)
        text = Text(f" {total} target{'s' if total != 1 else ''}")
        text.append(f" · sorted by {self.rows.sort} (s)")
        if self.rows.filter:
            text.append(f" · filter {self.rows.filter!r}: {len(self.rows)} shown (Esc clears)")
        else:
            text.append(" · / filters · Enter opens · ? help")
        self.query_one("#targets-info", Static).update(text)

    # ---- filter and sort ----------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        keep = self.table.cursor_key
        self.rows.filter = event.value
        self.rows.rebuild()
        self._rows_changed(keep)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.rows.filter:
            box.value = ""
            box.display = False
            self.table.focus()

    def action_cycle_sort(self) -> None:
        keep = self.table.cursor_key
        self.rows.next_sort()
        self._rows_changed(keep)

    # ---- actions on the selected target ------------------------------------------------------------
    def _selected(self) -> tuple[str, str] | None:
        key = self.table.cursor_key
        if key is None:
            self.notify("No target selected. Press a to add one.", severity="warning")
            return None
        return key, self.rows.rows[key].name

    @on(VirtualTable.Selected, "#targets")
    def _row_selected(self) -> None:
        self.action_open_detail()

    def action_open_detail(self) -> None:
        from screens.detail import TargetDetailScreen

        sel = self._selected()
        if sel:
            self.app.push_screen(TargetDetailScreen(*sel))

    def action_add(self) -> None:
        from screens.target_form import TargetFormScreen

        self.app.push_screen(TargetFormScreen(None), self._saved)

    def action_edit(self) -> None:
        from screens.target_form import TargetFormScreen

        sel = self._selected()
        if sel:
            self.call(
                "get_target",
                sel[0],
                then=lambda rec: self.app.push_screen(TargetFormScreen(rec), self._saved),
            )

    def _saved(self, rec: Any) -> None:
        if rec is not None:
            keep = self.table.cursor_key
            self.rows.upsert(rec)
            self._rows_changed(keep)

    def action_delete(self) -> None:
        sel = self._selected()
        if not sel:
            return
        key, name = sel

        def answered(yes: bool | None) -> None:
            if yes:
                self.call("remove_target", key, then=lambda _: self._removed(key, name))

        self.app.push_screen(
            ConfirmScreen(f"Delete target {name!r} and all its history?", "Delete"), answered
        )

    def _removed(self, key: str, name: str) -> None:
        keep = self.table.cursor_key
        self.rows.remove(key)
        self._rows_changed(keep)
        self.notify(f"Deleted {name}.")

    def action_toggle_maintenance(self) -> None:
        sel = self._selected()
        if sel:
            self.call_fn(self._toggle_maintenance, *sel, then=lambda msg: self.notify(msg))

    def _toggle_maintenance(self, key: str, name: str) -> str:
        cmds = self.commands
        own = [
            w
            for w in cmds.list_maintenance()
            if w.get("scope") == "target"
            and w.get("target") in (name, key)
            and w.get("endable", w.get("kind") == "toggle")
        ]
        row = self.rows.rows.get(key)
        if own or (row is not None and row.state == "maintenance"):
            res = cmds.maintenance_off(what=key)
            note = res.get("note")
            if note and res.get("removed"):
                return f"Maintenance off for {name}; {note}."
            if note:  # a recurring, tag or all window holds it: nothing of its own to end
                return f"{note[:1].upper()}{note[1:]} (Maintenance, 4)."
            return f"Maintenance off for {name}."
        cmds.maintenance_on(what=key, reason="set from the console")
        return f"Maintenance on for {name}: no alerts for it until you press m again."

    def action_check_now(self) -> None:
        sel = self._selected()
        if sel:
            self.call(
                "check_target_now", sel[0], then=lambda _: self.notify(f"Checking {sel[1]} now.")
            )

    def action_toggle_pause(self) -> None:
        sel = self._selected()
        if not sel:
            return
        paused = self.rows.rows[sel[0]].state != "paused"
        self.call("pause_target", sel[0], paused=paused, then=self._paused)

    def _paused(self, rec: Any) -> None:
        self._saved(rec)
        name, state = rec["name"], rec["state"]
        self.notify(f"{name} {'paused' if state == 'paused' else 'resumed'}.")
