"""The lines every screen shares: the navigation bar on top and the engine status bar."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from engine import STATE_SYMBOLS
from screens.context import context
from screens.fmt import STATE_STYLES

NAV = (
    ("1", "targets", "Targets", "Targets"),
    ("2", "alerts", "Alerts", "Alerts"),
    ("3", "history", "History", "History"),
    ("4", "maintenance", "Maint", "Maintenance"),
    ("5", "benchmarks", "Bench", "Benchmarks"),
    ("6", "contacts", "Contacts", "Contacts"),
    ("7", "subscribers", "Subs", "Subscribers"),
    ("8", "rules", "Rules", "Rules"),
)
BRAND = " SysAlert "
HELP_HINT = "  ? help"


def _entry_width(key: str, label: str) -> int:
    return len(key) + len(label) + 3  # " 1 Targets " or "[1 Targets]": the same width


class NavBar(Static):
    """Every screen's number key and name; the current one is always shown, bracketed and
    highlighted (`[7 Subs]`: the brackets carry it where a 16-colour terminal shows no highlight).

    Long names and the brand when they fit, short names when not, and on a terminal too narrow
    for every entry a window of them around the current one, with ‹ › where more are hidden."""

    DEFAULT_CSS = "NavBar { height: 1; background: $panel; }"

    def __init__(self, current: str, title: str = "") -> None:
        super().__init__()
        self.current = current
        self.title = title

    def layout(self, width: int) -> tuple[bool, int, int, int]:
        """(brand shown, label index 2 short / 3 long, first and last entry shown). A screen's
        title (a target's name) is worth shorter names, not a missing tab."""
        last = len(NAV) - 1
        title = len(self.title) + 2 if self.title else 0
        for brand, label, extra in ((True, 3, title), (True, 2, title), (False, 2, 0)):
            used = (len(BRAND) if brand else 0) + sum(_entry_width(e[0], e[label]) for e in NAV)
            if used + extra <= width:
                return brand, label, 0, last
        at = next((i for i, e in enumerate(NAV) if e[1] == self.current), 0)
        lo = hi = at

        def used(lo: int, hi: int) -> int:
            shown = sum(_entry_width(e[0], e[2]) for e in NAV[lo : hi + 1])
            return shown + (lo > 0) + (hi < last)

        grew = True
        while grew:
            grew = False
            if hi < last and used(lo, hi + 1) <= width:
                hi, grew = hi + 1, True
            if lo > 0 and used(lo - 1, hi) <= width:
                lo, grew = lo - 1, True
        return False, 2, lo, hi

    def render(self) -> Text:
        width = self.size.width
        brand, label, lo, hi = self.layout(width)
        text = Text(BRAND if brand else "", style="bold")
        if lo > 0:
            text.append("‹", style="bold")
        for entry in NAV[lo : hi + 1]:
            key, mode, name = entry[0], entry[1], entry[label]
            if mode == self.current:
                text.append(f"[{key} {name}]", style="bold reverse")
            else:
                text.append(f" {key} ", style="bold")
                text.append(name)
                text.append(" ")
        if hi < len(NAV) - 1:
            text.append("›", style="bold")
        shown = {e[i] for e in NAV if e[1] == self.current for i in (2, 3)}
        title = f"  {self.title}"
        if self.title and self.title not in shown and text.cell_len + len(title) <= width:
            text.append(title, style="italic")  # "[8 Rules]  Rules" would say it twice
        if text.cell_len + len(HELP_HINT) <= width:
            text.append(" " * (width - text.cell_len - len(HELP_HINT)))
            text.append(HELP_HINT, style="bold")
        return text


class StatusBar(Static):
    """Engine mode, probe rate, target states and the last error; the App refreshes `stats`.
    One line that never wraps: what does not fit ends in an ellipsis."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1; background: $boost; color: $text-muted;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

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
        if stats.get("starting"):  # its target count is 0 until it has loaded them
            text.append(" │ engine starting, loading targets…")
        else:
            text.append(
                f" │ {stats.get('probe_rate', 0.0):.1f} probes/s │ {stats.get('targets', 0)} targets"
            )
            states = stats.get("states") or {}
            for state in ("down", "partial", "degraded", "pending", "maintenance", "paused"):
                n = states.get(state)
                if n:
                    text.append(f" {STATE_SYMBOLS[state]}{n}", style=STATE_STYLES.get(state, ""))
        cluster = stats.get("cluster")
        if cluster:  # several engines share the store: how many, and this one's share
            text.append(
                f" │ engine {cluster['id']} ({cluster['location']}, {cluster['targets_held']}"
                f" leases) of {cluster['engines_alive']}"
                + (" · leader" if cluster["leader"] else "")
            )
        failing = stats.get("failing")
        if failing:  # only while something fails: a healthy bar stays as it was
            parts = ", ".join(f"{name} ({why})" for name, why in sorted(failing.items()))
            text.append(" │ ")
            text.append(f"FAILING: {parts}", style="bold red")
        err = stats.get("last_error")
        text.append(" │ last error: ")
        text.append(str(err) if err else "none", style="red" if err else "")
        self.update(text)
