"""SLA reports: per target uptime, downtime, incidents, time to acknowledge and to resolve over
a month, a date range or the last N days; maintenance left out and listed (engine.store.report).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field

from engine.commands.base import CommandBase
from engine.core.errors import BadInput
from engine.core.limits import REF_MAX, TAG_MAX, Ref
from engine.core.results import SlaReport, TargetSla
from engine.store import report as rstore

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Day = Annotated[str, Field(max_length=40)]
MAX_DAYS = 3660


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError, OSError):
        return ZoneInfo("UTC")


def _month(text: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m[2]) <= 12 or not 1970 <= int(m[1]) <= 9999:
        raise BadInput(f"--month {text!r} is not YEAR-MONTH", "e.g. --month 2026-11")
    first = datetime(int(m[1]), int(m[2]), 1, tzinfo=tz)
    nxt = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=tz)
    return first, nxt


def _day(text: str, what: str, tz: ZoneInfo, end: bool) -> datetime:
    """A date (the whole day: --to includes it) or an ISO date and time."""
    t = text.strip()
    try:
        if _DATE.match(t):
            d = datetime.fromisoformat(t).replace(tzinfo=tz)
            return d + timedelta(days=1) if end else d
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{what} {text!r} is not a date", f"e.g. {what} 2026-11-01 or 2026-11-01T08:00"
        ) from None
    return d if d.tzinfo else d.replace(tzinfo=tz)


def _month_start(d: datetime) -> datetime:
    return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class ReportCommands(CommandBase):
    def sla_report(
        self,
        month: Day | None = None,
        start: Day | None = None,
        end: Day | None = None,
        days: int | None = None,
        target: Ref | None = None,
        tag: Annotated[str, Field(max_length=TAG_MAX)] | None = None,
        owner_id: str | None = None,
        now: float | None = None,
    ) -> SlaReport:
        """The report: the period (default: this month so far), then one entry per target.
        `now` for the console's clock (its tests freeze it); the API does not take it."""
        tz = _zone(self.settings.general.timezone)
        now = time.time() if now is None else now
        nowdt = datetime.fromtimestamp(now, tz)
        if sum(x is not None for x in (month, start or end, days)) > 1:
            raise BadInput("give one period", "--month, or --from/--to, or --days")
        if month:
            a, b = _month(month, tz)
        elif start or end:
            a = _day(start, "--from", tz, False) if start else _month_start(nowdt)
            b = _day(end, "--to", tz, True) if end else nowdt
        elif days is not None:
            if isinstance(days, bool) or not 1 <= int(days) <= MAX_DAYS:
                raise BadInput(f"--days {days!r} is out of range", f"1 to {MAX_DAYS}")
            a, b = nowdt - timedelta(days=int(days)), nowdt
        else:
            a, b = _month_start(nowdt), nowdt
        if b <= a:
            raise BadInput("the period ends before it starts", "--to comes after --from")
        if target is not None and len(target) > REF_MAX:
            raise BadInput("--target is too long", f"at most {REF_MAX} characters")
        recs = [self.target_record(target, owner_id)] if target else self.target_records(owner_id)
        if tag:
            recs = [r for r in recs if tag in r.tags]
        t0, t1 = a.timestamp(), b.timestamp()
        figures = rstore.sla(self.store, [r.id for r in recs], t0, t1, now)
        rows = [
            TargetSla.model_validate(
                {"target": r.name, "id": r.id, "kind": r.kind, **figures[r.id].public()}
            )
            for r in sorted(recs, key=lambda r: r.name.lower())
        ]
        return SlaReport(
            start=t0,
            end=min(t1, now),
            period=month or f"{a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M}",
            timezone=str(tz),
            targets=rows,
        )
