"""Formatting shared by the screens: states with symbol and colour, ages, latencies, sparklines.

Colours are the 16 ANSI names so a 16-colour terminal shows them, and every state also has a symbol
and a word, so nothing is told by colour alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo

from rich.text import Text

from engine import STATE_SYMBOLS, SysAlertError, format_duration

STATE_STYLES = {
    "up": "green",
    "down": "bold red",
    "pending": "yellow",
    "degraded": "bold yellow",
    "partial": "bold dark_orange",  # down in some locations, fewer than the quorum
    "unknown": "bright_black",
    "maintenance": "magenta",
    "paused": "bright_black",
}
STATE_SHORT = {"maintenance": "maint"}
SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}
INCIDENT_STYLES = {
    "firing": "bold red",
    "acknowledged": "yellow",
    "silenced": "magenta",
    "resolved": "green",
}
INCIDENT_SYMBOLS = {"firing": "✖", "acknowledged": "✔", "silenced": "⏾", "resolved": "●"}
BARS = "▁▂▃▄▅▆▇█"
FAIL_MARK = "×"


def state_text(state: str, short: bool = False) -> Text:
    word = STATE_SHORT.get(state, state) if short else state
    return Text(f"{STATE_SYMBOLS.get(state, '?')} {word}", style=STATE_STYLES.get(state, ""))


def incident_text(state: str) -> Text:
    return Text(f"{INCIDENT_SYMBOLS.get(state, '?')} {state}", style=INCIDENT_STYLES.get(state, ""))


def severity_text(severity: str) -> Text:
    return Text(severity, style=SEVERITY_STYLES.get(severity, ""))


def ago(ts: float | None, now: float) -> str:
    """'12s ago', '5m ago', '3h ago', '2d ago'; a dash when never."""
    if not ts:
        return "—"
    d = max(0.0, now - ts)
    if d < 60:
        return f"{int(d)}s ago"
    if d < 3600:
        return f"{int(d // 60)}m ago"
    if d < 86400 * 2:
        return f"{int(d // 3600)}h ago"
    return f"{int(d // 86400)}d ago"


def span(seconds: float) -> str:
    """A duration in its largest sensible unit: 45s, 12m, 3h, 2d."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{int(s)}s"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400 * 2:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


def run_time(seconds: float) -> str:
    """How long a job ran (a heartbeat's /start to its end): 0.4s, 12s, 2m5s, 1h10m."""
    return f"{seconds:.1f}s" if seconds < 10 else format_duration(seconds)


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.0f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def pct(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 0.9995:
        return "100%"
    return f"{value * 100:.1f}%"


def metric_of(kind: str) -> str:
    """What a target's charts and cells show: the probe's own value where it means more than the
    latency (a system target's percent: the latency of a psutil call says nothing; a TLS
    target's days until its certificate expires), every other kind's latency."""
    return "value" if kind in _VALUE_TEXT else "latency_ms"


def percent(value: float | None) -> str:
    """A system metric, already in percent: 7.5%, 42%."""
    if value is None:
        return "—"
    return f"{value:.0f}%" if value >= 10 else f"{value:.1f}%"


def days_left(value: float | None) -> str:
    """A certificate's remaining validity, in days: 23d left, 5h left, expired."""
    if value is None:
        return "—"
    if value <= 0:
        return "expired"
    # Rounded down: a certificate with 1.9 days left has 1 full day, not 2.
    return f"{int(value)}d left" if value >= 1 else f"{max(1, int(value * 24))}h left"


_VALUE_TEXT = {"system": percent, "tls": days_left}


def value_text(kind: str) -> Callable[[float | None], str]:
    """The formatter of a kind's value (see metric_of); latency in ms for the rest."""
    return _VALUE_TEXT.get(kind, ms)


def fit(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle so both ends still read
    (`https://ops.exa…/hooks/alerts`): the start says what it is, the end which one."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1 + 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def when(ts: float | None, tz: tzinfo, now: float | None = None) -> str:
    """A timestamp: time only when it is today, date and time otherwise."""
    if not ts:
        return "—"
    dt = datetime.fromtimestamp(ts, tz)
    if now is not None and datetime.fromtimestamp(now, tz).date() == dt.date():
        return dt.strftime("%H:%M:%S")
    return dt.strftime("%Y-%m-%d %H:%M")


def sparkline(values: Iterable[float | None], width: int, relative: bool = False) -> Text:
    """Latest values on the right; a failed check is a red ×, so failures read without colour.
    `relative` scales from the lowest value instead of zero (a trend of scores near a baseline)."""
    vals = list(values)[-width:]
    ok = [v for v in vals if v is not None and v >= 0]
    top = max(ok) if ok else 1.0
    bottom = min(ok) if ok and relative else 0.0
    spread = top - bottom
    text = Text()
    for v in vals:
        if v is None or v < 0:
            text.append(FAIL_MARK, style="red")
        else:
            idx = (
                0
                if spread <= 0
                else min(len(BARS) - 1, int((v - bottom) / spread * (len(BARS) - 1) + 0.5))
            )
            text.append(BARS[idx], style="cyan")
    return text


def error_sentence(exc: BaseException) -> str:
    """What a person reads when a command fails: our sentence, or the type for our own bugs."""
    if isinstance(exc, SysAlertError):
        return str(exc)
    return f"internal error: {type(exc).__name__} (see the console log)"


def checking_note(name: str, answer: object) -> str:
    """What "check now" did, in words: one engine checks here; on a shared store the answer's
    `detail` says which engines were asked, or that no engine holds the target now."""
    detail = answer.get("detail") if isinstance(answer, dict) else None
    return f"Checking {name} now." if not detail else f"{name}: {detail}."
