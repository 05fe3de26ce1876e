"""SLA figures per target over a period, from what the store keeps: raw results where they are
still kept, hourly roll-ups before that, incidents (opened, acknowledged, resolved) and the spans
each target spent in maintenance (recorded here as windows start and end, since windows are
deleted once over). Maintenance is left out of uptime and downtime, and reported on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlmodel import col

from engine.store.models import Incident, MaintenanceSpan, Result, Rollup
from engine.store.store import Store

HOUR = 3600


# ---- the report -----------------------------------------------------------------------------
@dataclass
class TargetSla:
    target_id: str
    checks: int = 0
    ok: int = 0
    downtime_s: float = 0.0
    incidents: int = 0
    acked: list[float] = field(default_factory=list)  # seconds from open to acknowledgement
    repaired: list[float] = field(default_factory=list)  # seconds from open to resolve
    maintenance: list[tuple[float, float]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "uptime_pct": round(100.0 * self.ok / self.checks, 4) if self.checks else None,
            "checks": self.checks,
            "failed_checks": self.checks - self.ok,
            "downtime_s": round(self.downtime_s, 1),
            "incidents": self.incidents,
            "acknowledged": len(self.acked),
            "mtta_s": round(sum(self.acked) / len(self.acked), 1) if self.acked else None,
            "mttr_s": round(sum(self.repaired) / len(self.repaired), 1) if self.repaired else None,
            "maintenance_s": round(sum(b - a for a, b in self.maintenance), 1),
            "maintenance": [{"start": a, "end": b} for a, b in self.maintenance],
        }


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def sla(
    store: Store, target_ids: list[str], start: float, end: float, now: float
) -> dict[str, TargetSla]:
    """Per target over [start, end): checks and successes outside maintenance, downtime (down
    incidents, maintenance left out), incidents opened, time to acknowledge and to resolve."""
    out = {t: TargetSla(t) for t in target_ids}
    if not target_ids or end <= start:
        return out
    end = min(end, now)
    with store.session() as s:
        for sp in s.execute(
            select(MaintenanceSpan).where(
                col(MaintenanceSpan.target_id).in_(target_ids),
                col(MaintenanceSpan.started_at) < end,
                or_(col(MaintenanceSpan.ended_at).is_(None), col(MaintenanceSpan.ended_at) > start),
            )
        ).scalars():
            a, b = max(sp.started_at, start), min(sp.ended_at or end, end)
            if b > a:
                out[sp.target_id].maintenance.append((a, b))
        oldest = dict(
            s.execute(
                select(col(Result.target_id), func.min(col(Result.ts)))
                .where(col(Result.target_id).in_(target_ids))
                .group_by(col(Result.target_id))
            ).all()
        )
        for tid, rec in out.items():
            rec.maintenance.sort()
            first_raw = oldest.get(tid)
            # Raw rows from the first whole hour they cover; roll-ups for the hours before.
            border = end if first_raw is None else max(start, math.ceil(first_raw / HOUR) * HOUR)
            _rollups(s, rec, start, min(border, end))
            if border < end:
                _raw(s, rec, border, end)
        for inc in s.execute(
            select(Incident).where(
                col(Incident.target_id).in_(target_ids),
                col(Incident.opened_at) < end,
                or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) > start),
            )
        ).scalars():
            _incident(out[inc.target_id or ""], inc, start, end)
    return out


def _rollups(s: Any, rec: TargetSla, start: float, end: float) -> None:
    """Whole hours inside [start, end), those touched by maintenance left out."""
    h0, h1 = math.ceil(start / HOUR), math.floor(end / HOUR)
    if h1 <= h0:
        return
    rows = s.execute(
        select(col(Rollup.hour), col(Rollup.count), col(Rollup.ok_count)).where(
            col(Rollup.target_id) == rec.target_id, col(Rollup.hour) >= h0, col(Rollup.hour) < h1
        )
    ).all()
    for hour, count, ok in rows:
        if any(_overlap(hour * HOUR, (hour + 1) * HOUR, a, b) for a, b in rec.maintenance):
            continue
        rec.checks += int(count)
        rec.ok += int(ok)


def _raw(s: Any, rec: TargetSla, start: float, end: float) -> None:
    r, m = Result.__table__, MaintenanceSpan.__table__  # type: ignore[attr-defined]
    in_maintenance = exists().where(
        m.c.target_id == r.c.target_id,
        m.c.started_at <= r.c.ts,
        or_(m.c.ended_at.is_(None), m.c.ended_at > r.c.ts),
    )
    total, ok = s.execute(
        select(func.count(), func.sum(case((r.c.ok, 1), else_=0))).where(
            and_(r.c.target_id == rec.target_id, r.c.ts >= start, r.c.ts < end, ~in_maintenance)
        )
    ).one()
    rec.checks += int(total or 0)
    rec.ok += int(ok or 0)


def _incident(rec: TargetSla, inc: Incident, start: float, end: float) -> None:
    if start <= inc.opened_at < end:
        rec.incidents += 1
        if inc.acked_at is not None:
            rec.acked.append(max(0.0, inc.acked_at - inc.opened_at))
        if inc.resolved_at is not None:
            rec.repaired.append(max(0.0, inc.resolved_at - inc.opened_at))
    if inc.kind != "down":
        return
    a, b = max(inc.opened_at, start), min(inc.resolved_at or end, end)
    if b > a:
        rec.downtime_s += (b - a) - sum(_overlap(a, b, m0, m1) for m0, m1 in rec.maintenance)
