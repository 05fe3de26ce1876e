"""Maintenance window rows (scope, times, schedule and reason sealed) and the Window record the
store returns: whether a window is active at a moment, and when that next changes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from engine.store.models import MaintenanceSpan, MaintenanceWindow
from engine.store.store import Store
from engine.timing.schedules import WindowSchedule, describe, is_active, next_change

M = "maintenance"


@dataclass
class Window:
    id: str
    scope: str  # target | tag | all
    target_id: str | None
    tag: str | None
    kind: str  # toggle | oneoff | weekly | cron
    starts_at: float | None
    ends_at: float | None
    schedule: WindowSchedule | None
    reason: str = ""
    created_at: float = 0.0

    def active(self, now: float) -> bool:
        if self.schedule is not None:
            return is_active(self.schedule, datetime.fromtimestamp(now, UTC))
        if self.starts_at is not None and now < self.starts_at:
            return False
        return not (self.ends_at is not None and now >= self.ends_at)

    def next_change(self, now: float) -> float | None:
        if self.schedule is not None:
            nc = next_change(self.schedule, datetime.fromtimestamp(now, UTC))
            return nc.timestamp() if nc else None
        for t in (self.starts_at, self.ends_at):
            if t is not None and t > now:
                return t
        return None

    def public(
        self, target_names: dict[str, str] | None = None, now: float | None = None
    ) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "id": self.id,
            "active": self.active(now),
            "endable": self.endable(now),  # what `maintenance off` would end now
            "scope": self.scope,
            "kind": self.kind,
            "target": (target_names or {}).get(self.target_id or "", self.target_id),
            "tag": self.tag,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "schedule": describe(self.schedule) if self.schedule else None,
            "reason": self.reason,
        }

    def endable(self, now: float) -> bool:
        """What `maintenance off` ends: a toggle, or a one-off window running now. Recurring
        windows and one-offs still to come are plans; `maintenance remove ID` deletes those."""
        return self.schedule is None or (self.kind == "oneoff" and self.active(now))

    def expired(self, now: float) -> bool:
        return self.schedule is None and self.ends_at is not None and self.ends_at <= now


def insert(store: Store, w: Window) -> Window:
    w.id = w.id or store.fresh_id(MaintenanceWindow)
    row = MaintenanceWindow(
        id=w.id,
        scope=w.scope,
        target_id=w.target_id,
        kind=w.kind,
        starts_at=w.starts_at,
        ends_at=w.ends_at,
        scope_fp=store.fp("tag", w.tag) if w.tag else None,
        scope_s=store.seal(M, "scope_s", w.id, w.tag) if w.tag else None,
        schedule_s=store.seal(M, "schedule_s", w.id, json.dumps(w.schedule.to_dict()))
        if w.schedule
        else None,
        reason_s=store.seal(M, "reason_s", w.id, w.reason) if w.reason else None,
        created_at=w.created_at or time.time(),
    )
    with store.session() as s:
        s.add(row)
        s.commit()
    return w


def load_all(store: Store) -> list[Window]:
    with store.session() as s:
        rows = list(s.execute(select(MaintenanceWindow)).scalars())
    return [from_row(store, r) for r in rows]


def from_row(store: Store, r: Any) -> Window:
    """A stored row (the model, or a row of its columns) opened into a Window."""
    sched = store.open_(M, "schedule_s", r.id, r.schedule_s)
    return Window(
        id=r.id,
        scope=r.scope,
        target_id=r.target_id,
        tag=store.open_(M, "scope_s", r.id, r.scope_s),
        kind=r.kind,
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        schedule=WindowSchedule.from_dict(json.loads(sched)) if sched else None,
        reason=store.open_(M, "reason_s", r.id, r.reason_s) or "",
        created_at=r.created_at,
    )


def remove(store: Store, window_ids: list[str]) -> int:
    """Delete windows by id; returns how many existed."""
    if not window_ids:
        return 0
    with store.session() as s:
        res = s.execute(delete(MaintenanceWindow).where(col(MaintenanceWindow.id).in_(window_ids)))
        s.commit()
    return int(getattr(res, "rowcount", 0) or 0)


def sync_spans(store: Store, covered: set[str], now: float) -> None:
    """Targets in maintenance now get an open span (if none); open spans of others end now: what
    SLA reports (engine.store.report) leave out, since windows are deleted once over."""
    with store.session() as s:
        open_rows = list(
            s.execute(
                select(MaintenanceSpan).where(col(MaintenanceSpan.ended_at).is_(None))
            ).scalars()
        )
        have = {r.target_id for r in open_rows}
        changed = False
        for r in open_rows:
            if r.target_id not in covered:
                r.ended_at = now
                s.add(r)
                changed = True
        for tid in covered - have:
            s.add(MaintenanceSpan(target_id=tid, started_at=now))
            changed = True
        if changed:
            s.commit()
