"""Uptime of a few targets (the rows a console shows), from the hourly roll-ups."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlmodel import col

from engine.store.models import Rollup
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
