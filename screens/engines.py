"""Engines: the engines sharing this store (several daemons on one PostgreSQL), live.

Each engine's id, location, targets it holds, when it was last seen (the database's clock, so the
hosts' clocks need not agree) and whether it is alive, leading, stopped or gone; the one this
console is embedded in or attached to is marked. A SQLite store has one engine: the screen says
so. Also the lines of a multi-location target's detail (each location's latest result), which
read the same command results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from engine import NO_ENGINE, combine
from screens.actions import bindings_for
from screens.base import ListScreen
from screens.fmt import STATE_STYLES, ago, ms, state_text

REFRESH_S = 2.0  # how often the list is read again while the screen shows
SQLITE = (
    "One engine: this one. A SQLite store is never shared; several engines need PostgreSQL"
    " (README: Running several engines)."
)
STATE_WORD_STYLES = {"leader": "bold green", "alive": "green", "stopped": "bright_black"}


def engine_state(e: Any) -> str:
    """leader / alive while it renews its leases; stopped (a clean stop) or gone (not seen)."""
    if e.get("alive"):
        return "leader" if e.get("leader") else "alive"
    return "stopped" if e.get("stopped") else "gone"


def seen(seconds: float | None) -> str:
    """How long ago, from the database's own difference (never this host's clock)."""
    if seconds is None:
        return "—"
    return ago(1e9 - max(0.0, float(seconds)), 1e9)


class EnginesScreen(ListScreen):
    TABLE_ID = "engines"
    INFO_ID = "engines-info"
    EMPTY_ID = "engines-empty"
    COLUMNS = ("Engine", "Location", "Targets", "Last seen", "State", "")
    LOADING = "Loading engines…"
    LIST_COMMAND = "list_engines"
    MISSING = "The engine list is not available from this engine."
    NOUN = "engine"
    SCOPE = "engines"
    nav_title = "Engines"
    BINDINGS = bindings_for("engines")

    def __init__(self) -> None:
        super().__init__()
        self.every: list[dict[str, Any]] = []  # as read, stopped and gone engines included
        self.show_all = True
        self._reading = False  # a read in flight: a slow store gets no pile of them
        self._error = False  # the last read failed (the empty line says why)

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REFRESH_S, self._tick)

    def _tick(self) -> None:
        if self.is_current and not self._reading:
            self.action_reload()

    def action_reload(self) -> None:
        self._reading = True
        super().action_reload()

    def _failed(self, exc: BaseException) -> None:
        self._reading = False
        self.every, self._error = [], True
        super()._failed(exc)

    @property
    def clustered(self) -> bool:
        """The engine in use shares its store (PostgreSQL): its figures carry a cluster part."""
        return bool((self.ctx.stats or {}).get("cluster"))

    def _loaded(self, items: Any) -> None:
        self._reading = self._error = False
        self.every = [dict(i) for i in items or []]
        self.items = [e for e in self.every if self.show_all or e.get("alive")]
        if self.every:
            empty = "No engine alive now. Press v to show the stopped and gone ones."
        elif self.clustered:
            empty = "No engine has joined this store yet."
        else:
            empty = SQLITE
        self._fill(empty)

    def cells(self, e: dict[str, Any]) -> Sequence[Any]:
        word = engine_state(e)
        here = Text("◆ this", style="bold") if e.get("this") else ""
        return (
            str(e.get("id") or ""),
            str(e.get("location") or ""),
            str(e.get("targets_held", 0)),
            seen(e.get("last_seen_ago_s")),
            Text(word, style=STATE_WORD_STYLES.get(word, "red")),
            here,
        )

    def info(self) -> str:
        if not self.every:
            if self._error:
                return " Engines · the list could not be read · g tries again"
            if self.clustered:
                return " Engines · none listed yet · g reloads"
            return f" Engines · one engine · {self.ctx.backend.mode} in this console · g reloads"
        alive = [e for e in self.every if e.get("alive")]
        places = len({e.get("location") for e in alive})
        here = " · ◆ this console" if any(e.get("this") for e in self.every) else ""
        hidden = len(self.every) - len(self.items)
        more = f" · {hidden} hidden (v shows)" if hidden else " · v hides stopped"
        return (
            f" Engines: {len(alive)} of {len(self.every)} alive in {places}"
            f" location{'s' if places != 1 else ''}{here}{more}"
        )

    def action_toggle_gone(self) -> None:
        self.show_all = not self.show_all
        self._loaded(self.every)
        self.notify("Showing every engine." if self.show_all else "Showing the engines alive now.")


# ---- a multi-location target's detail ------------------------------------------------------------
def location_summary(rec: Any, legs: Sequence[Any]) -> Text:
    """Which locations see it down, against which quorum, and where no engine is alive."""
    names = [str(loc) for loc in rec.get("locations") or []]
    verdict = combine(names, {str(g["location"]): g["state"] for g in legs}, rec.get("quorum"))
    quorum = f"quorum {verdict.quorum} of {len(names)}"
    detail = verdict.detail(len(names))
    if not detail:
        return Text(f" {quorum}: every location sees it up", style="green")
    style = STATE_STYLES.get(verdict.state, "")
    return Text(f" {detail}" if "quorum" in detail else f" {detail} · {quorum}", style=style)


def location_rows(legs: Sequence[Any], now: float) -> Table:
    """One line per location: state, latency, last check, the engine probing it there."""
    rows = Table.grid(padding=(0, 2, 0, 0))
    rows.add_column(no_wrap=True)
    rows.add_column(no_wrap=True, min_width=11)
    rows.add_column(justify="right", no_wrap=True, min_width=8)
    rows.add_column(no_wrap=True)
    rows.add_column(ratio=1, overflow="fold")
    for g in legs:
        state = g.get("state")
        alive = int(g.get("engines_alive") or 0)
        if state == NO_ENGINE:
            verdict = Text("✖ no engine", style="bold red")
            who = Text("no engine alive: not counted as up", style="red")
        else:
            verdict = state_text(state or "unknown")
            who = Text(f"{g.get('engine') or '—'} ({alive} alive here)", style="bright_black")
            if g.get("error_class") and state == "down":
                verdict.append(f" {g['error_class']}")
        if g.get("uptime") is not None:
            who.append(f" · uptime {g['uptime']:.2f}%")
        rows.add_row(
            f" {g.get('location')}",
            verdict,
            "—" if state == NO_ENGINE else ms(g.get("latency_ms")),
            ago(g.get("checked_at"), now),
            who,
        )
    return rows
