"""The lines every screen shares: the navigation bar on top and the engine status bar."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from engine.domain import STATE_SYMBOLS
from screens.context import context
from screens.fmt import STATE_STYLES

NAV = (
    ("1", "targets", "Targets", "Targets"),
    ("2", "alerts", "Alerts", "Alerts"),
    ("3", "history", "History", "History"),
    ("4", "maintenance", "Maint.", "Maintenance"),
    ("5", "benchmarks", "Bench.", "Benchmarks"),
    ("6", "contacts", "Contacts", "Contacts"),
)
# Shown only on a wide terminal; on a narrow one their screen highlights its neighbour's entry.
NAV_WIDE = (
    ("7", "subscribers", "Subs", "Subscribers", "contacts"),
    ("8", "rules", "Rules", "Rules", "alerts"),
)
WIDE = 110


class NavBar(Static):
    """Number keys and screen names; the current one is highlighted (and bracketed for 16 colours)."""

    DEFAULT_CSS = "NavBar { height: 1; background: $panel; }"

    def __init__(self, current: str, title: str = "") -> None:
        super().__init__()
        self.current = current
        self.title = title

    def render(self) -> Text:
        wide = self.size.width >= 100
        entries = list(NAV)
        current = self.current
        if self.size.width >= WIDE:
            entries += [(key, mode, short, long) for key, mode, short, long, _ in NAV_WIDE]
        else:
            current = next((n for _k, m, _s, _l, n in NAV_WIDE if m == current), current)
        text = Text(" SysAlert ", style="bold")
        for key, mode, short, long in entries:
            label = long if wide else short
            if mode == current:
                text.append(f"[{key} {label}]", style="bold reverse")
            else:
                text.append(f" {key} ", style="bold")
                text.append(label)
                text.append(" ")
        shown = {lbl for _k, m, short, long in entries if m == current for lbl in (short, long)}
        if self.title and self.title not in shown:  # "[8 Rules]  Rules" says it twice
            text.append(f"  {self.title}", style="italic")
        help_hint = "  ? help"
        if text.cell_len + len(help_hint) <= self.size.width:
            text.append(" " * (self.size.width - text.cell_len - len(help_hint)))
            text.append(help_hint, style="bold")
        return text


class StatusBar(Static):
    """Engine mode, probe rate, target states and the last error; the App refreshes `stats`."""

    DEFAULT_CSS = "StatusBar { height: 1; background: $boost; color: $text-muted; }"

    def on_mount(self) -> None:
        self.watch(self.app, "stats", self._show, init=True)

    def _show(self, stats: dict[str, Any]) -> None:
        ctx = context(self.app)
        mode = ctx.backend.mode
        text = Text(" ")
        text.append("◆ " + mode, style="bold")
        if not stats:
            text.append(" │ waiting for the engine…")
            self.update(text)
            return
        text.append(
            f" │ {stats.get('probe_rate', 0.0):.1f} probes/s │ {stats.get('targets', 0)} targets"
        )
        states = stats.get("states") or {}
        for state in ("down", "degraded", "pending", "maintenance", "paused"):
            n = states.get(state)
            if n:
                text.append(f" {STATE_SYMBOLS[state]}{n}", style=STATE_STYLES.get(state, ""))
        failing = stats.get("failing")
        if failing:  # only while something fails: a healthy bar stays as it was
            parts = ", ".join(f"{name} ({why})" for name, why in sorted(failing.items()))
            text.append(" │ ")
            text.append(f"FAILING: {parts}", style="bold red")
        err = stats.get("last_error")
        text.append(" │ last error: ")
        text.append(str(err) if err else "none", style="red" if err else "")
        self.update(text)
