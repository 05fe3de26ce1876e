"""What a public status page and its badges read: day-by-day uptime from the hourly roll-ups,
uptime and mean latency over a period, and the open incidents of given targets. Each query is
bounded to the targets it is asked about, so nothing of another target is read at all."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import col

from engine.core.incident_states import OPEN_STATES
from engine.store.models import Incident, Rollup
from engine.store.store import Store

DAY_HOURS = 24


@dataclass(frozen=True, slots=True)
class DayUptime:
    day: int  # days since the epoch (UTC)
    checks: int
    ok: int

    @property
    def ratio(self) -> float | None:
        return self.ok / self.checks if self.checks else None


@dataclass(frozen=True, slots=True)
class PeriodStats:
    checks: int
    ok: int
    latency_sum: float

    @property
    def uptime(self) -> float | None:
        return self.ok / self.checks if self.checks else None

    @property
    def latency_ms(self) -> float | None:
        return self.latency_sum / self.checks if self.checks else None


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """Only what a public page may say: no summary (it can name an address), no people."""

    target_id: str
    kind: str
    state: str
    severity: str
    opened_at: float


def daily_uptime(
    store: Store, target_ids: list[str], days: int, now: float | None = None
) -> dict[str, list[DayUptime]]:
    """Each target's last `days` UTC days, oldest first (days without checks have checks=0).
    The hourly rows are summed here, not in SQL: integer division differs between databases."""
    now = time.time() if now is None else now
    today = int(now // 86400)
    first_day = today - days + 1
    sums: dict[str, dict[int, list[int]]] = {t: {} for t in target_ids}
    if target_ids:
        q = select(
            col(Rollup.target_id), col(Rollup.hour), col(Rollup.count), col(Rollup.ok_count)
        ).where(col(Rollup.target_id).in_(target_ids), col(Rollup.hour) >= first_day * DAY_HOURS)
        with store.session() as s:
            for tid, hour, count, ok in s.execute(q).all():
                agg = sums[tid].setdefault(int(hour) // DAY_HOURS, [0, 0])
                agg[0] += int(count)
                agg[1] += int(ok)
    return {
        tid: [DayUptime(d, *by_day.get(d, (0, 0))) for d in range(first_day, today + 1)]
        for tid, by_day in sums.items()
    }


def period_stats(
    store: Store, target_id: str, seconds: float, now: float | None = None
) -> PeriodStats:
    """Checks, successes and summed latency over the last `seconds` (whole hours from roll-ups)."""
    now = time.time() if now is None else now
    first_hour = int((now - seconds) // 3600)
    q = select(
        func.sum(col(Rollup.count)),
        func.sum(col(Rollup.ok_count)),
        func.sum(col(Rollup.latency_sum)),
    ).where(col(Rollup.target_id) == target_id, col(Rollup.hour) >= first_hour)
    with store.session() as s:
        total, ok, lat = s.execute(q).one()
    return PeriodStats(int(total or 0), int(ok or 0), float(lat or 0.0))


def open_incidents(store: Store, target_ids: list[str]) -> list[OpenIncident]:
    """Open incidents of these targets, oldest first."""
    if not target_ids:
        return []
    q = (
        select(
            col(Incident.target_id),
            col(Incident.kind),
            col(Incident.state),
            col(Incident.severity),
            col(Incident.opened_at),
        )
        .where(col(Incident.target_id).in_(target_ids), col(Incident.state).in_(OPEN_STATES))
        .order_by(col(Incident.opened_at))
    )
    with store.session() as s:
        return [OpenIncident(str(t), k, st, sev, float(o)) for t, k, st, sev, o in s.execute(q)]
