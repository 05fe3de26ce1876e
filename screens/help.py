"""Help: every binding, read from the one command table (the same one the palette searches)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from screens.actions import COMMANDS, SCOPES, key_display

TABLE_KEYS = "↑/↓ or j/k move · PgUp/PgDn page · Home/End first/last · Enter open · Tab next field"


def help_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("key", style="bold", width=8, no_wrap=True)
    table.add_column("what", ratio=1)
    for scope, title in SCOPES.items():
        rows = [c for c in COMMANDS if c.scope == scope]
        if not rows:
            continue
        table.add_row(Text(title, style="bold underline"), "")
        for c in rows:
            table.add_row(key_display(c.key), c.help)
        table.add_row("", "")
    table.add_row(Text("Tables", style="bold underline"), "")
    table.add_row("", TABLE_KEYS)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark", "dismiss", "Close"),
        Binding("up,k", "scroll(-1)", show=False),
        Binding("down,j", "scroll(1)", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="dialog help"):
            yield Static(Text("Keys — Esc closes, ↑/↓ scroll, ctrl+p searches every action",
                              style="bold"), classes="dialog-title")
            yield Static(help_table())

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_scroll(self, delta: int) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_relative(y=delta, animate=False)
