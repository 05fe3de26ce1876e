"""Targets, the home screen: every target live, filtered and sorted, with the actions on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import Input, Static

from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import ConfirmScreen
from screens.fmt import checking_note
from screens.messages import EngineEvents
from screens.subscribers import owner_labels
from screens.target_pages import WINDOW, PagedRows
from screens.target_rows import COLUMNS, SPARK
from screens.virtual_table import VirtualTable

EMPTY = "No targets yet. Press a to add one (or run: sysalert target add tcp://host:port)."
NO_MATCH = "Nothing matches the filter. Press Esc to clear it."
REFRESH_S = 1.0  # the window is asked again this often: its order, states and counts


class TargetsScreen(EngineScreen):
    SCOPE = "targets"
    LISTENS = True
    BINDINGS = bindings_for("targets")

    def __init__(self) -> None:
        super().__init__()
        self.rows = PagedRows(lambda: self.ctx.clock())
        self.rows.on_miss = self._missed
        self._spark_asked: set[str] = set()
        self._asking = False  # a window request is out
        self._again: tuple[int | None, str | None] | None = None  # asked meanwhile: next one
        self._owners_known = False

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
        # Subscribers' masked chat ids, for their targets' rows: asked beside the first window,
        # not before it (one more round trip to an attached daemon before any row shows).
        self.call_fn(lambda: owner_labels(self.optional("list_subscribers")), then=self._got_owners)
        self.set_interval(REFRESH_S, self._tick)
        self.set_interval(60.0, self._reload_uptimes)
        # A fresh store has no roll-ups at start (they are written every 10 s): the first minute
        # would show "—" everywhere without this early look.
        self.set_timer(15.0, self._reload_uptimes)

    # ---- loading: a window of the engine's order (screens/target_pages.py) -----------------------
    def reload(self, offset: int | None = None, around: str | None = None) -> None:
        """Ask for the window around the cursor's target (it stays under the cursor when the
        order moves it), or at `offset` (a jump or a scroll to rows not held)."""
        if offset is None and around is None and self.rows.holds(self.table.cursor_key):
            around = self.table.cursor_key
        if offset is None and around is None:
            offset = self.rows.offset
        if self._asking:  # one request at a time; the newest wish goes next
            self._again = (offset, around)
            return
        self._asking = True
        self.call_fn(self._fetch_window, offset, around, then=self._loaded, fail=self._not_loaded)

    def _fetch_window(self, offset: int | None, around: str | None) -> tuple[Any, Any, str | None]:
        rows = self.rows
        query, owners = _split_filter(rows.filter, rows.owners)
        page = self.commands.target_page(
            sort=rows.sort,
            query=query,
            owners=owners,
            offset=max(0, offset or 0),
            limit=WINDOW,
            around=around,
        )
        return page, None, around

    def _not_loaded(self, exc: BaseException) -> None:
        self._asking = False
        self.notify(f"Targets could not be read: {exc}", severity="error")

    def _loaded(self, value: tuple[Any, Any, str | None]) -> None:
        page, labels, around = value
        self._asking = False
        if labels is not None:
            self.rows.owners, self._owners_known = labels, True
        # Where the cursor is now: a key pressed while the window was asked for moved it, and
        # the answer must not pull it back to the target it was on when we asked.
        now_key = self.table.cursor_key
        moved = around is not None and now_key != around  # None: on a row not held yet
        keep = now_key if moved else (around or now_key)
        old_ids = set(self.rows.rows)
        self.rows.load_page(page)
        if around is not None and not moved and page.get("index") is not None:
            self.table.cursor = int(page["index"])
        self._rows_changed(keep)
        if moved and not self.rows.holds(self.table.cursor_key):
            self._missed(self.table.cursor)  # the cursor went where this answer holds no rows
        self._want_sparks()
        if set(self.rows.rows) - old_ids:
            self._reload_uptimes()
        if self._again is not None:
            offset, around = self._again
            self._again = None
            self.reload(offset, around)

    def _got_owners(self, labels: dict[str, str]) -> None:
        self._owners_known = True
        if labels != self.rows.owners:
            self.rows.owners = labels
            self.reload()

    def _missed(self, index: int) -> None:
        """A row outside the window was drawn (PgDn, End, a scroll): ask for the window there."""
        if not self._asking:
            self.call_later(self.reload, max(0, index - WINDOW // 3))
        else:
            self._again = (max(0, index - WINDOW // 3), None)

    def _reload_uptimes(self) -> None:
        held = list(self.rows.rows)
        if not held:
            return

        now = self.ctx.clock()

        def job() -> Any:
            out: dict[str, float] = {}
            for i in range(0, len(held), 100):  # target_uptimes takes 100 ids at a time
                chunk = ",".join(held[i : i + 100])
                out.update(self.optional("target_uptimes", chunk, now=now) or {})
            return out

        self.call_fn(job, then=self._got_uptimes)

    def _got_uptimes(self, uptimes: dict[str, float]) -> None:
        self.rows.set_uptimes(uptimes)
        self.table.redraw()

    def _want_sparks(self) -> None:
        """Recent latencies for the rows on screen only (a few queries, never one per target)."""
        if not self.rows.loaded:
            return
        view, first = self.rows.view, self.rows.offset
        shown = [view[i - first] for i in self.table.visible_range() if 0 <= i - first < len(view)]
        ids = [r.id for r in shown if not r.spark_loaded and r.id not in self._spark_asked]
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

    # ---- live updates -----------------------------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        """Results for the rows held update them at once; a change of order (a state, a target
        added or removed) is the next window's, asked for now."""
        if not self.rows.loaded:
            return
        keep = self.table.cursor_key  # before a row above it leaves the window
        reorder, _ = self.rows.apply(message.events)
        if reorder or any(e.get("type") == "targets" for e in message.events):
            self._rows_changed(keep)
            self.reload(around=keep if self.rows.holds(keep) else None)
        else:
            self.table.redraw()

    def _tick(self) -> None:
        self.table.redraw(tick=True)
        vis = self.table.visible_range()
        if len(vis) and not self.rows.covers(vis.start, vis.stop - 1):
            self.reload(max(0, vis.start - WINDOW // 3))
        else:
            self.reload()
        self._want_sparks()

    def _rows_changed(self, keep: str | None) -> None:
        self.table.empty = NO_MATCH if self.rows.filter else EMPTY
        self.table.rows_changed(keep, self.rows.index_of)
        self._show_info()

    def _show_info(self) -> None:
        total = self.rows.all
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
        self.rows.filter = event.value
        self._refilter()

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
        self.rows.next_sort()
        self._refilter()

    def _refilter(self) -> None:
        """A new order or filter: the window around the cursor's target, or the first one."""
        keep = self.table.cursor_key
        if self.rows.holds(keep):
            self.reload(around=keep)
        else:
            self.reload(offset=0)

    # ---- actions on the selected target ------------------------------------------------------------
    def _selected(self) -> tuple[str, str] | None:
        key = self.table.cursor_key
        if key is None:
            self.notify("No target selected. Press a to add one.", severity="warning")
            return None
        row = self.rows.rows.get(key)
        if row is None:  # a placeholder: its window is on its way
            self.notify("Still loading that row: a moment.", severity="warning")
            return None
        return key, row.name

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
            self.reload()

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
                "check_target_now", sel[0], then=lambda got: self.notify(checking_note(sel[1], got))
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


def _split_filter(text: str, owners: dict[str, str]) -> tuple[str, str]:
    """The filter box as the engine takes it: `owner:1265 web` is subscriber ids whose masked
    chat id holds 1265 (`owner:operator`, `owner:-`: the operator's own, "-") and the text."""
    q = text.strip().lower()
    if not q.startswith("owner:"):
        return q, ""
    wanted, _, rest = q[6:].partition(" ")
    if wanted in ("operator", "-", "none"):
        return rest.strip(), "-"
    ids = [sid for sid, label in owners.items() if wanted.lstrip("*") in label]
    return rest.strip(), ",".join(ids) or "\0none"
