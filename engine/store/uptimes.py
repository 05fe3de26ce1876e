"""Uptime of a few targets (the rows a console shows), from the hourly roll-ups."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import col

from engine.store.models import LocationRollup, Rollup
from engine.store.store import Store

CHUNK = 500


def uptime_of(
    store: Store, target_ids: Iterable[str], seconds: float, now: float | None = None
) -> dict[str, float]:
    """target id -> share of good checks over the last `seconds`, for just these targets: the
    whole table's roll-ups (a day of 100,000 targets is 2.4 million rows) are not read."""
    now = now or time.time()
    first_hour = int((now - seconds) // 3600)
    ids = sorted(set(target_ids))
    out: dict[str, float] = {}
    with store.session() as s:
        for i in range(0, len(ids), CHUNK):
            q = (
                select(
                    col(Rollup.target_id),
                    func.sum(col(Rollup.count)),
                    func.sum(col(Rollup.ok_count)),
                )
                .where(
                    col(Rollup.hour) >= first_hour, col(Rollup.target_id).in_(ids[i : i + CHUNK])
                )
                .group_by(Rollup.target_id)
            )
            out.update({t: float(o) / float(c) for t, c, o in s.execute(q).all() if c})
    return out


def location_uptimes(
    store: Store, target_id: str, seconds: float, now: float | None = None
) -> dict[str, float]:
    """location -> share of good checks there over the last `seconds`, for a target probed from
    several locations (the hourly per-location roll-ups); a location with no check is absent."""
    now = now or time.time()
    q = (
        select(
            col(LocationRollup.location),
            func.sum(col(LocationRollup.count)),
            func.sum(col(LocationRollup.ok_count)),
        )
        .where(
            col(LocationRollup.target_id) == target_id,
            col(LocationRollup.hour) >= int((now - seconds) // 3600),
        )
        .group_by(LocationRollup.location)
    )
    with store.session() as s:
        return {loc: float(o) / float(c) for loc, c, o in s.execute(q).all() if c}


_LOC_UPSERT = (
    "INSERT INTO location_rollups (target_id, location, hour, count, ok_count)"
    " VALUES (:t, :l, :h, :c, :o) ON CONFLICT (target_id, location, hour) DO UPDATE SET"
    " count = location_rollups.count + excluded.count,"
    " ok_count = location_rollups.ok_count + excluded.ok_count"
)


def add_location_counts(conn: Any, counts: dict[tuple[str, str, int], list[int]]) -> None:
    """Add (target, location, hour) -> [checks, good checks] to the roll-ups, in the caller's
    transaction (sorted: two engines upserting at once take row locks in one order)."""
    if counts:
        rows = [
            {"t": t, "l": loc, "h": h, "c": c[0], "o": c[1]}
            for (t, loc, h), c in sorted(counts.items())
        ]
        conn.execute(text(_LOC_UPSERT), rows)
