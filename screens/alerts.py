"""Alerts: open incidents with severity, age and target, and each notification's receipts.

The table holds the window it shows of the Alerts order (screens/list_window.py): 20,000
incidents cost what twenty do, and End is the oldest resolved one (with v)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from engine import parse_duration
from screens.actions import bindings_for
from screens.dialogs import Field, FieldsDialog, checked
from screens.fmt import ago, incident_text, severity_text, when
from screens.list_window import WindowedScreen
from screens.virtual_table import Column, VirtualTable

EMPTY = "No open alerts: everything is quiet (v shows resolved ones)."
STATE_ORDER = {"firing": 0, "acknowledged": 1, "silenced": 2, "resolved": 3}
RELOAD_ON = {"incident", "receipt", "state"}
COLUMNS = (
    Column("ID", 8),
    Column("State", 14),
    Column("Sev", 8, drop=2),
    Column("Age", 4),
    Column("Target", 16, drop=1),
    Column("Summary", 0),
)


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


class AlertsScreen(WindowedScreen):
    """Open alerts (and resolved ones with v) a window at a time (`incident_page`)."""

    SCOPE = "alerts"
    LISTENS = True
    BINDINGS = bindings_for("alerts")
    TABLE_ID = "incidents"
    AROUND = True
    RELOAD_ON = frozenset(RELOAD_ON)

    def __init__(self) -> None:
        super().__init__()
        self.show_resolved = False
        self.counts: dict[str, int] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Loading alerts…", id="alerts-info", classes="info-line")
        yield VirtualTable(COLUMNS, self.rows, "Loading alerts…", id="incidents")
        yield Static("Notifications", classes="section-title")
        with VerticalScroll(id="receipts-box"):
            yield Static("", id="receipts")

    def on_mount(self) -> None:  # WindowedScreen.on_mount runs too (Textual calls each)
        self.set_interval(5.0, self._periodic)

    @property
    def incidents(self) -> list[Any]:
        """The incidents held: the window around the rows shown."""
        return self.rows.view

    # ---- rows -------------------------------------------------------------------------------------
    def row_key(self, inc: Any) -> str:
        return str(inc["id"])

    def row_cells(self, inc: Any) -> Sequence[str | Text]:
        return (
            inc["id"],
            incident_text(inc.get("state", "")),
            severity_text(inc.get("severity", "")),
            ago(inc.get("opened_at"), self.ctx.clock()).removesuffix(" ago"),
            inc.get("target") or "—",
            inc.get("summary") or "",
        )

    # ---- windows ----------------------------------------------------------------------------------
    def fetch_window(self, offset: int, limit: int, around: str | None) -> Any:
        return self.commands.incident_page(
            resolved=self.show_resolved, offset=offset, limit=limit, around=around
        )

    def window_loaded(self, page: Any) -> None:
        self.table.empty = EMPTY
        self.counts = dict(page.get("counts") or {})
        shown = [s for s in STATE_ORDER if self.show_resolved or s != "resolved"]
        info = " · ".join(f"{self.counts[s]} {s}" for s in shown if self.counts.get(s)) or EMPTY
        self.query_one("#alerts-info", Static).update(
            f" {info}"
            + ("  (resolved shown, v hides)" if self.show_resolved else "")
            + " · alert rules on 8"
        )
        self._show_receipts()

    def _selected_id(self) -> str | None:
        """The id of the highlighted row: the table's own key."""
        return self.table.cursor_key if self.selected is not None else None

    def _selected(self) -> Any | None:
        """The highlighted incident: by the table's key, never a position in a list that a
        reload may have reordered since."""
        return self.selected

    @on(VirtualTable.Highlighted, "#incidents")
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

    def _periodic(self) -> None:
        """Ages and silences move with time: the window is read again while shown."""
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

    def reload_data(self) -> None:
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
        self.reload(new=True)
