"""Alerts: open incidents with severity, age and target, and each notification's receipts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine import parse_duration
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import Field, FieldsDialog, checked
from screens.fmt import ago, incident_text, severity_text, when
from screens.keyed_table import KeyedTable
from screens.messages import EngineEvents

EMPTY = "No open alerts: everything is quiet (v shows resolved ones)."
STATE_ORDER = {"firing": 0, "acknowledged": 1, "silenced": 2, "resolved": 3}
RELOAD_ON = {"incident", "receipt", "state"}
COLUMNS = ("ID", "State", "Sev", "Age", "Target", "Summary")


def receipt_status(n: dict[str, Any]) -> Text:
    """queued / sent / read / failed, said in words (and coloured)."""
    status = n.get("status") or "pending"
    if n.get("read_at"):
        return Text("read", style="bold green")
    if status == "sent":
        return Text("sent", style="cyan")
    if status in ("failed", "dead"):
        return Text(status, style="red")
    return Text("queued", style="yellow")


class AlertsScreen(EngineScreen):
    SCOPE = "alerts"
    LISTENS = True
    BINDINGS = bindings_for("alerts")

    def __init__(self) -> None:
        super().__init__()
        self.incidents: list[dict[str, Any]] = []
        self.show_resolved = False
        self._dirty = False

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Loading alerts…", id="alerts-info", classes="info-line")
        table = KeyedTable(id="incidents", cursor_type="row", zebra_stripes=False)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("Notifications", classes="section-title")
        with VerticalScroll(id="receipts-box"):
            yield Static("", id="receipts")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#incidents", KeyedTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.reload()
        self.set_interval(5.0, self._periodic)

    def on_screen_resume(self) -> None:
        if self._dirty:
            self.reload()

    def on_resize(self, event: events.Resize) -> None:
        if self.incidents:
            self._fill()

    # ---- data ------------------------------------------------------------------------------------
    def reload(self) -> None:
        self._dirty = False
        self.call("list_incidents", limit=200, then=self._loaded)

    def _loaded(self, incidents: list[dict[str, Any]]) -> None:
        shown = [i for i in incidents if self.show_resolved or i.get("state") != "resolved"]
        shown.sort(
            key=lambda i: (STATE_ORDER.get(i.get("state", ""), 9), -(i.get("opened_at") or 0))
        )
        self.incidents = shown
        self._fill()

    def _fill(self) -> None:
        """The summary gets the width the other columns leave, ending in … when cut (the
        Notifications box below shows it whole)."""
        now = self.ctx.clock()
        rows = [
            (
                inc["id"],
                incident_text(inc.get("state", "")),
                severity_text(inc.get("severity", "")),
                ago(inc.get("opened_at"), now).removesuffix(" ago"),
                inc.get("target") or "—",
                inc.get("summary") or "",
            )
            for inc in self.incidents
        ]
        room = self.table.room_for(5, COLUMNS, rows, self.size.width)
        cells = [(*r[:5], Text(r[5], no_wrap=True, overflow="ellipsis")) for r in rows]
        for cell in cells:
            cell[5].truncate(room, overflow="ellipsis")
        self.table.fill(
            zip([inc["id"] for inc in self.incidents], cells, strict=True), columns=COLUMNS
        )
        counts: dict[str, int] = {}
        for inc in self.incidents:
            counts[inc["state"]] = counts.get(inc["state"], 0) + 1
        info = " · ".join(f"{n} {s}" for s, n in counts.items()) or EMPTY
        self.query_one("#alerts-info", Static).update(
            f" {info}"
            + ("  (resolved shown, v hides)" if self.show_resolved else "")
            + " · alert rules on 8"
        )
        self._show_receipts()

    def _selected_id(self) -> str | None:
        """The id of the highlighted row: the table's own key, never a position in a list that a
        reload may have reordered since."""
        return self.table.cursor_key

    def _selected(self) -> dict[str, Any] | None:
        key = self._selected_id()
        return next((i for i in self.incidents if i["id"] == key), None)

    @on(DataTable.RowHighlighted, "#incidents")
    def _highlighted(self) -> None:
        self._show_receipts()

    def _show_receipts(self) -> None:
        inc = self._selected()
        box = self.query_one("#receipts", Static)
        if inc is None:
            box.update(Text(EMPTY, style="italic"))
            return
        now, tz = self.ctx.clock(), self.ctx.tz
        head = Table.grid(padding=(0, 1, 0, 0))  # a long summary wraps under itself
        head.add_column(no_wrap=True, style="bold")
        head.add_column(ratio=1, overflow="fold")
        head.add_row(inc["id"], inc.get("summary") or "")
        lines: list[Text] = [head]
        if inc.get("acked_by"):
            at = when(inc.get("acked_at"), tz, now)
            lines.append(Text(f"acknowledged by {inc['acked_by']} at {at}", style="yellow"))
        if inc.get("silenced_until") and inc.get("state") == "silenced":
            until = when(inc["silenced_until"], tz, now)
            lines.append(Text(f"silenced until {until}", style="magenta"))
        notes = inc.get("notifications") or []
        if not notes:
            lines.append(Text("no notifications yet (add contacts on screen 6)", style="italic"))
            box.update(Group(*lines))
            return
        # One row a notification; what follows the status wraps under itself (a hanging indent),
        # never back to column 0.
        rows = Table.grid(padding=(0, 1, 0, 0))
        rows.add_column(width=1)
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True, max_width=16, overflow="ellipsis")
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True)
        rows.add_column(ratio=1, overflow="fold")
        for n in notes:
            rows.add_row(
                "",
                f"{n.get('channel', '?'):<9} →",
                n.get("contact") or "?",
                f"L{n.get('level', 1)}",
                receipt_status(n),
                self._receipt_detail(n, tz, now),
            )
        box.update(Group(*lines, rows))

    @staticmethod
    def _receipt_detail(n: dict[str, Any], tz: tzinfo, now: float) -> Text:
        """When it was sent and read, by whom, and why it failed: the part that may wrap."""
        text = Text()
        if n.get("sent_at"):
            text.append(f"sent {when(n['sent_at'], tz, now)}  ")
        if n.get("read_at"):
            text.append(f"read {when(n['read_at'], tz, now)}")
            people = [r["name"] for r in n.get("readers") or [] if r["name"] != n.get("contact")]
            if people:  # a group: the members Telegram says read it
                text.append(" by " + ", ".join(people[:4]) + (" …" if len(people) > 4 else ""))
            text.append("  ")
        if n.get("acked_by"):
            text.append(f"ack by {n['acked_by']}  ", style="yellow")
        if n.get("error") and not n.get("read_at"):
            text.append(f"({n['error']})", style="red")
        text.rstrip()
        return text

    # ---- live -------------------------------------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        if message.types() & RELOAD_ON:
            if self.is_current:
                self.reload()
            else:
                self._dirty = True

    def _periodic(self) -> None:
        if self.is_current:
            self.reload()

    # ---- actions ------------------------------------------------------------------------------------
    def _act(self, method: str, verb: str, **kw: Any) -> None:
        inc = self._selected()
        if inc is None:
            self.notify("No alert selected.", severity="warning")
            return
        said = f"{verb} {inc['id']} ({inc.get('target') or inc.get('summary') or 'no target'})."
        self.call(method, inc["id"], then=lambda _: self._done(said), **kw)

    def _done(self, text: str) -> None:
        self.notify(text)
        self.reload()

    def action_ack(self) -> None:
        self._act("ack_incident", "Acknowledged", by=self.ctx.operator)

    def action_resolve(self) -> None:
        self._act("resolve_incident", "Resolved", by=self.ctx.operator)

    def action_silence(self) -> None:
        if self._selected() is None:
            self.notify("No alert selected.", severity="warning")
            return
        dialog = FieldsDialog(
            "Silence this alert for how long?",
            [
                Field(
                    "duration",
                    "For:",
                    "1h",
                    "30m, 2h, 1d",
                    checked(lambda v: parse_duration(v, "silence duration"), optional=False),
                ),
            ],
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                self._act(
                    "silence_incident",
                    f"Silenced for {values['duration']}:",
                    duration=values["duration"],
                    by=self.ctx.operator,
                )

        self.app.push_screen(dialog, answered)

    def action_toggle_resolved(self) -> None:
        self.show_resolved = not self.show_resolved
        self.reload()
