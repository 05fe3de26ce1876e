"""Maintenance-window timing; pure functions of `now`.

Every function takes an aware `now` and returns aware UTC datetimes, so the engine can be driven by
a fake clock in tests and wake exactly when a window starts or ends (`next_change`).

Wall-clock rules (documented here because users will ask):
- A window's start or end that falls in a skipped hour (spring forward) moves to the moment the
  clock jumps; a window lying wholly inside the skipped hour does not happen that day.
- An ambiguous start (autumn, the hour that repeats) is its first occurrence and an ambiguous end its
  second one, so a window covers both passes of the repeated hour.
- Cron windows open at cronsim's ticks (engine.timing.cron: Healthchecks' implementation, Debian
  cron's DST rules).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from engine.core.durations import format_duration, parse_duration
from engine.core.errors import BadInput
from engine.core.limits import WINDOW_LENGTH
from engine.timing.cron import check_cron, cron_next, resolve, utc, zone

__all__ = ["check_cron", "cron_next", "resolve", "utc", "zone"]  # re-exported for callers

KINDS = ("oneoff", "weekly", "cron")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKLY_EXAMPLE = "mon-fri 22:00-23:30 Europe/Berlin, or sat,sun 00:00-06:00"
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_WORDS = {
    **{n: {i} for names in (DAY_NAMES, _FULL_NAMES) for i, n in enumerate(names)},
    **{w: set(range(7)) for w in ("daily", "everyday", "*")},
    "weekdays": set(range(5)),
    "weekends": {5, 6},
}
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


# --- windows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowSchedule:
    """When a maintenance window is open: once, weekly on days/hours, or from a cron tick."""

    kind: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    days: frozenset[int] = field(default_factory=frozenset)
    start: str | None = None
    end: str | None = None
    cron: str | None = None
    duration_s: float | None = None
    tz: str = "UTC"

    def __post_init__(self) -> None:
        zone(self.tz)
        object.__setattr__(self, "days", frozenset(self.days))
        if self.kind == "oneoff":
            if self.starts_at is None or self.ends_at is None:
                raise BadInput("a one-off window needs a start and an end", _ONEOFF_HINT)
            object.__setattr__(self, "starts_at", utc(self.starts_at))
            object.__setattr__(self, "ends_at", utc(self.ends_at))
            if self.ends_at <= self.starts_at:
                raise BadInput("the window ends before it starts", _ONEOFF_HINT)
        elif self.kind == "weekly":
            if not self.days or not self.days <= set(range(7)):
                raise BadInput("a weekly window needs days 0-6 (0 = Monday)", WEEKLY_EXAMPLE)
            s = _parse_hhmm(self.start or "", allow_24=False)
            e = _parse_hhmm(self.end or "", allow_24=True)
            object.__setattr__(self, "start", f"{s // 60:02d}:{s % 60:02d}")
            object.__setattr__(self, "end", f"{e // 60:02d}:{e % 60:02d}")
            if s == e:
                raise BadInput(
                    f"window {self.start}-{self.end} has no length",
                    "for a whole day write 00:00-24:00",
                )
        elif self.kind == "cron":
            object.__setattr__(self, "cron", check_cron(self.cron or ""))
            if not self.duration_s or self.duration_s <= 0:
                raise BadInput("a cron window needs a positive duration", _CRON_HINT)
        else:
            raise BadInput(
                f"window kind {self.kind!r} is unknown", f"use one of {', '.join(KINDS)}"
            )

    def to_dict(self) -> dict:
        """A JSON-ready dict; the store keeps windows in this shape."""
        d = asdict(self)
        d["days"] = sorted(self.days)
        for k in ("starts_at", "ends_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> WindowSchedule:
        """Reads what to_dict wrote; unknown keys are ignored."""
        vals = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("starts_at", "ends_at"):
            vals[k] = datetime.fromisoformat(vals[k]) if vals.get(k) else None
        vals["days"] = frozenset(vals.get("days") or ())
        return cls(**vals)


_ONEOFF_HINT = "e.g. 2025-03-01 22:00 to 2025-03-02 01:00 Europe/Berlin, or 2025-03-01 22:00 for 2h"
_CRON_HINT = "e.g. cron 0 3 * * 0 for 2h Europe/Berlin (Sundays 03:00-05:00)"


def _parse_hhmm(text: str, *, allow_24: bool) -> int:
    m = _HHMM.match(text.strip())
    minutes = int(m.group(1)) * 60 + int(m.group(2)) if m else -1
    if not m or int(m.group(2)) > 59 or not (minutes < 1440 or (allow_24 and minutes == 1440)):
        last = "24:00" if allow_24 else "23:59"
        raise BadInput(f"time {text!r} is not HH:MM between 00:00 and {last}", WEEKLY_EXAMPLE)
    return minutes


def _minutes(s: WindowSchedule) -> tuple[int, int]:
    """A weekly window's start and end as minutes after midnight (end may be 1440)."""
    return _parse_hhmm(s.start or "", allow_24=False), _parse_hhmm(s.end or "", allow_24=True)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in filter(None, text.lower().replace(" ", "").split(",")):
        if item in _DAY_WORDS:
            days |= _DAY_WORDS[item]
            continue
        a, sep, b = item.partition("-")
        a, b = a[:3], b[:3]
        if not sep or a not in DAY_NAMES or b not in DAY_NAMES:
            raise BadInput(
                f"{item!r} is not a day or a day range",
                f"use mon..sun, ranges like mon-fri, lists like sat,sun; e.g. {WEEKLY_EXAMPLE}",
            )
        i, j = DAY_NAMES.index(a), DAY_NAMES.index(b)
        days |= {(i + k) % 7 for k in range((j - i) % 7 + 1)}
    if not days:
        raise BadInput("no days given", WEEKLY_EXAMPLE)
    return frozenset(days)


_WEEKLY_RE = re.compile(
    r"^\s*(?P<days>.+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})(?:\s+(?P<tz>\S+))?\s*$"
)
_DT = r"\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?"
_ONEOFF_RE = re.compile(
    rf"^\s*(?P<start>{_DT})\s+(?:to\s+(?P<end>{_DT})|for\s+(?P<dur>\S+))(?:\s+(?P<tz>\S+))?\s*$",
    re.I,
)
_CRON_RE = re.compile(r"^\s*cron\s+(?P<expr>.+?)\s+for\s+(?P<dur>\S+)(?:\s+(?P<tz>\S+))?\s*$", re.I)


def parse_weekly(text: str, default_tz: str = "UTC") -> WindowSchedule:
    """'mon-fri 22:00-23:30 Europe/Berlin' or 'sat,sun 00:00-06:00' (end may pass midnight)."""
    m = _WEEKLY_RE.match(text or "")
    if not m:
        raise BadInput(
            f"weekly window {text!r} does not parse",
            f"write DAYS HH:MM-HH:MM [TZ], e.g. {WEEKLY_EXAMPLE}",
        )
    return WindowSchedule(
        "weekly",
        days=_parse_days(m["days"]),
        start=m["start"],
        end=m["end"],
        tz=m["tz"] or default_tz,
    )


def parse_cron_window(expr: str, duration: str | float, tz: str = "UTC") -> WindowSchedule:
    """A window opening at every tick of `expr` (in tz) and lasting `duration`."""
    return WindowSchedule(
        "cron",
        cron=expr,
        duration_s=parse_duration(duration, "window length", WINDOW_LENGTH),
        tz=tz,
    )


def parse_oneoff(
    start: str | datetime,
    end: str | datetime | None = None,
    *,
    duration: str | float | None = None,
    tz: str = "UTC",
) -> WindowSchedule:
    """A single window; times without an offset are read in `tz`."""
    z = zone(tz)

    def when(v: str | datetime) -> datetime:
        if isinstance(v, datetime):
            d = v
        else:
            try:
                d = datetime.fromisoformat(v.strip().replace("z", "Z"))
            except ValueError:
                raise BadInput(f"{v!r} is not a date and time", _ONEOFF_HINT) from None
        return d if d.tzinfo else resolve(d, z)

    s = when(start)
    if end is not None:
        e = when(end)
    elif duration is not None:
        e = s + timedelta(seconds=parse_duration(duration, "window length", WINDOW_LENGTH))
    else:
        raise BadInput("a one-off window needs an end or a length", _ONEOFF_HINT)
    return WindowSchedule("oneoff", starts_at=s, ends_at=e, tz=tz)


def parse_window(text: str, default_tz: str = "UTC") -> WindowSchedule:
    """Any of the three forms a user types: weekly, 'cron EXPR for 2h [TZ]', 'START to END [TZ]'."""
    t = (text or "").strip()
    if m := _CRON_RE.match(t):
        return parse_cron_window(m["expr"], m["dur"], m["tz"] or default_tz)
    if m := _ONEOFF_RE.match(t):
        return parse_oneoff(m["start"], m["end"], duration=m["dur"], tz=m["tz"] or default_tz)
    if re.match(r"^\s*\d{4}-", t):
        raise BadInput(f"one-off window {text!r} does not parse", _ONEOFF_HINT)
    if t.lower().startswith("cron"):
        raise BadInput(f"cron window {text!r} does not parse", _CRON_HINT)
    return parse_weekly(t, default_tz)


# --- evaluation ---------------------------------------------------------------------------------


def _weekly_intervals(s: WindowSchedule, now: datetime) -> list[tuple[datetime, datetime]]:
    """Merged occurrences from about a week before `now` to about a week after it."""
    z = zone(s.tz)
    a, b = _minutes(s)
    today = now.astimezone(z).date()
    spans: list[tuple[datetime, datetime]] = []
    for k in range(-8, 10):
        d: date = today + timedelta(days=k)
        if d.weekday() not in s.days:
            continue
        base = datetime.combine(d, time())
        ws = base + timedelta(minutes=a)
        we = base + timedelta(minutes=b) + (timedelta(days=1) if b <= a else timedelta())
        lo, hi = resolve(ws, z), resolve(we, z, last=True)
        if hi > lo:
            spans.append((lo, hi))
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _cron_open_since(s: WindowSchedule, now: datetime) -> datetime | None:
    """The start of the occurrence covering `now` (the first tick after now - duration), if any."""
    first = cron_next(s.cron or "", now - timedelta(seconds=s.duration_s or 0), s.tz)
    return first if first is not None and first <= now else None


def _cron_close(s: WindowSchedule, first: datetime) -> datetime:
    """When a window opened at `first` closes, following overlapping occurrences (at most 200)."""
    dur = timedelta(seconds=s.duration_s or 0)
    tick, end = first, first + dur
    for _ in range(200):  # an endless chain gives back a time to look again, never a busy loop
        nxt = cron_next(s.cron or "", tick, s.tz)
        if nxt is None or nxt > end:
            break
        tick, end = nxt, max(end, nxt + dur)
    return end


def is_active(schedule: WindowSchedule, now: datetime) -> bool:
    """True while the window is open at `now` (start inclusive, end exclusive)."""
    now = utc(now)
    if schedule.kind == "oneoff":
        return bool(
            schedule.starts_at and schedule.ends_at and schedule.starts_at <= now < schedule.ends_at
        )
    if schedule.kind == "weekly":
        return any(lo <= now < hi for lo, hi in _weekly_intervals(schedule, now))
    return _cron_open_since(schedule, now) is not None


def next_change(schedule: WindowSchedule, now: datetime) -> datetime | None:
    """When the window next opens or closes after `now`; None if it never changes again."""
    now = utc(now)
    if schedule.kind == "oneoff":
        for t in (schedule.starts_at, schedule.ends_at):
            if t is not None and t > now:
                return t
        return None
    if schedule.kind == "weekly":
        spans = _weekly_intervals(schedule, now)
        if any(hi - lo >= timedelta(days=7) for lo, hi in spans):
            return None  # open around the clock every day
        return min((t for lo, hi in spans for t in (lo, hi) if t > now), default=None)
    since = _cron_open_since(schedule, now)
    return (
        _cron_close(schedule, since) if since else cron_next(schedule.cron or "", now, schedule.tz)
    )


def _days_text(days: frozenset[int]) -> str:
    """Runs of days, wrapping over the week end: {4, 5, 6, 0} reads Fri-Mon."""
    if days == frozenset(range(7)):
        return "daily"
    first = min(d for d in days if (d - 1) % 7 not in days)
    runs: list[list[int]] = []
    for d in ((first + k) % 7 for k in range(7)):
        if d not in days:
            continue
        if runs and (runs[-1][-1] + 1) % 7 == d:
            runs[-1].append(d)
        else:
            runs.append([d])
    name = [n.capitalize() for n in DAY_NAMES]
    return ",".join(
        f"{name[r[0]]}-{name[r[-1]]}" if len(r) > 2 else ",".join(name[i] for i in r) for r in runs
    )


def describe(schedule: WindowSchedule) -> str:
    """One line a person reads in the console or a Telegram reply."""
    s = schedule
    if s.kind == "oneoff":
        z = zone(s.tz)
        fmt = "%Y-%m-%d %H:%M"
        a = s.starts_at.astimezone(z).strftime(fmt) if s.starts_at else "?"
        b = s.ends_at.astimezone(z).strftime(fmt) if s.ends_at else "?"
        return f"once {a} to {b} {s.tz}"
    if s.kind == "weekly":
        first, last = _minutes(s)
        nxt = " (next day)" if last <= first else ""
        return f"{_days_text(s.days)} {s.start}-{s.end}{nxt} {s.tz}"
    return f"cron {s.cron} for {format_duration(s.duration_s or 0)} {s.tz}"


def business_hours(tz: str = "UTC") -> WindowSchedule:
    """Mon-Fri 09:00-17:00 in tz: when a schedule=business heartbeat may go down."""
    return WindowSchedule("weekly", days=frozenset(range(5)), start="09:00", end="17:00", tz=tz)
