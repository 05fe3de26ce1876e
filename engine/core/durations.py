"""Durations as people write them: 30s, 5m, 2h, 1d, 1h30m, or plain seconds."""

from __future__ import annotations

import math
import re

from engine.core.errors import BadInput
from engine.core.limits import DURATION_MAX

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(
    text: str | int | float,
    what: str = "duration",
    bounds: tuple[float, float] = (0.0, DURATION_MAX),
) -> float:
    """Return seconds inside `bounds` (shortest, longest); BadInput names the value and either the
    accepted forms or the allowed range."""
    lo, hi = bounds
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        seconds = _parse_text(text, what)
    if not math.isfinite(seconds) or not lo <= seconds <= hi:
        why = (
            "is negative"
            if seconds < 0
            else "is too short"
            if seconds < lo
            else "is too long"
            if math.isfinite(seconds)
            else "is out of range"
        )
        raise BadInput(f"{what} {str(text)[:40]!r} {why}", f"allowed: {_bound(lo)} to {_bound(hi)}")
    return seconds


def _bound(seconds: float) -> str:
    return "0s" if seconds <= 0 else format_duration(seconds) if seconds >= 1 else f"{seconds:g}s"


def _parse_text(text: object, what: str) -> float:
    s = str(text).strip().lower().replace(" ", "")
    if len(s) > 40:  # no honest duration is this long; and int() of 5,000 digits is slow
        raise BadInput(f"{what} {s[:20]!r}... is not a duration", "write e.g. 30s, 5m, 2h, 1d")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise BadInput(
            f"{what} {str(text)[:40]!r} is not a duration",
            "write a number with a unit: 30s, 5m, 2h, 1d (or 1h30m)",
        )
    return total


def format_duration(seconds: float) -> str:
    """Short human form: 45s, 5m, 2h10m, 3d4h."""
    if seconds < 0:
        seconds = 0
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m}m{r}s" if r else f"{m}m"
    if s < 86400:
        h, r = divmod(s, 3600)
        return f"{h}h{r // 60}m" if r // 60 else f"{h}h"
    d, r = divmod(s, 86400)
    return f"{d}d{r // 3600}h" if r // 3600 else f"{d}d"
