"""Help: every binding, read from the one command table (the same one the palette searches)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from screens.actions import COMMANDS, SCOPES, key_display

TABLE_KEYS = "↑/↓ move · PgUp/PgDn page · Home/End first/last · Enter open · Tab next field"


def help_tables() -> Group:
    """One small table per scope, titled, in the command table's order."""
    parts: list[Table] = []
    for scope, title in SCOPES.items():
        rows = [c for c in COMMANDS if c.scope == scope]
        if rows:
            table = _table(title)
            for c in rows:
                table.add_row(key_display(c.key), c.help)
            parts.append(table)
    table = _table("Tables and forms")
    table.add_row("", TABLE_KEYS)
    parts.append(table)
    return Group(*parts)


def _table(title: str) -> Table:
    table = Table(
        box=None,
        show_header=False,
        padding=(0, 1),
        expand=True,
        title=title,
        title_justify="left",
        title_style="bold underline",
    )
    table.add_column("key", style="bold", width=8, no_wrap=True)
    table.add_column("what", ratio=1)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark", "dismiss", "Close"),
        Binding("up", "scroll(-1)", show=False),
        Binding("down", "scroll(1)", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="dialog help"):
            yield Static(
                Text("Keys — Esc closes, ↑/↓ scroll, ctrl+p searches every action", style="bold"),
                classes="dialog-title",
            )
            yield Static(help_tables())

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_scroll(self, delta: int) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_relative(y=delta, animate=False)
