"""Wall-clock arithmetic and cron ticks; pure functions of an aware `now`, answers in UTC.

Cron ticks come from Healthchecks' cronsim, DST included (Debian cron's rules): expressions whose
minute and hour fields both name fixed values fire once at the first occurrence of an ambiguous
time and run a time skipped by spring forward right after the jump; every other expression fires
at each wall time that exists. Window starts and ends (engine.timing.schedules) use `resolve`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from engine.core.cron import normalise_cron
from engine.core.errors import BadInput


def utc(now: datetime) -> datetime:
    """An aware datetime converted to UTC; naive ones are a programming error, not user input."""
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("an aware datetime is required (use datetime.now(UTC))")
    return now.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or BadInput naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BadInput(
            f"time zone {name!r} is unknown", "use an IANA name such as Europe/Berlin or UTC"
        ) from None


# --- wall-clock helpers -------------------------------------------------------------------------


def _instant(wall: datetime, tz: ZoneInfo, fold: int = 0) -> datetime:
    return wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def _imaginary(wall: datetime, tz: ZoneInfo) -> bool:
    return _instant(wall, tz).astimezone(tz).replace(tzinfo=None) != wall


def _ambiguous(wall: datetime, tz: ZoneInfo) -> bool:
    a, b = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return a.utcoffset() != b.utcoffset() and not _imaginary(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant the clock jumps over an imaginary wall time (cronsim steps minutes the same way)."""
    w = wall.replace(second=0, microsecond=0)
    while _imaginary(w, tz):
        w += timedelta(minutes=1)
    return _instant(w, tz)


def resolve(wall: datetime, tz: ZoneInfo, *, last: bool = False) -> datetime:
    """A naive local wall time as a UTC instant: gap -> jump moment, ambiguous -> first (or last)."""
    if _imaginary(wall, tz):
        return _gap_end(wall, tz)
    return _instant(wall, tz, 1 if last and _ambiguous(wall, tz) else 0)


# --- cron ---------------------------------------------------------------------------------------


def check_cron(expr: str) -> str:
    """Normalised cron text (aliases expanded) or BadInput with an example."""
    text = normalise_cron(expr)
    if text is None:
        raise BadInput(f"cron {expr!r} does not parse", "five fields, e.g. 0 3 * * * (03:00 daily)")
    return text


def cron_next(expr: str, after: datetime, tz: str = "UTC") -> datetime | None:
    """The first cron tick strictly after `after`, in UTC; None if the expression never fires."""
    after = utc(after)
    expr = check_cron(expr)
    start = after if tz == "UTC" else after.astimezone(zone(tz))  # UTC: no DST handling at all
    try:
        ticks = CronSim(expr, start)
    except CronSimError:  # a day no named month has (0 0 30 2 *): parses, never fires
        return None
    # cronsim counts from the whole second; a tick in that same second is not "after".
    for _ in range(3):
        try:
            t = next(ticks).astimezone(UTC)
        except StopIteration:  # nothing within cronsim's 50 years
            return None
        if t > after:
            return t
    return None
