"""Result history: batched writes (one transaction per batch), hourly roll-ups, queries, retention."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text
from sqlmodel import col

from engine.checks.probes.base import ProbeResult
from engine.store.models import LocationRollup, MaintenanceSpan, Result, Rollup
from engine.store.store import Store

_RESULTS = Result.__table__  # type: ignore[attr-defined]
_ROLLUPS = Rollup.__table__  # type: ignore[attr-defined]
_LOC_ROLLUPS = LocationRollup.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class PendingResult:
    target_id: str
    ts: float
    result: ProbeResult
    ping: str | None = None  # heartbeats: which ping the row records


_COLS = ("target_id", "ts", "ok", "latency_ms", "value", "error_class", "detail_s", "ping")
_SQLITE_INSERT = f"INSERT INTO results ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"
_SQLITE_UPSERT = (
    "INSERT INTO rollups (target_id, hour, count, ok_count, latency_sum, latency_max) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target_id, hour) DO UPDATE SET "
    "count = count + excluded.count, ok_count = ok_count + excluded.ok_count, "
    "latency_sum = latency_sum + excluded.latency_sum, "
    "latency_max = max(latency_max, excluded.latency_max)"
)


_UPSERT = text(
    "INSERT INTO rollups (target_id, hour, count, ok_count, latency_sum, latency_max) "
    "VALUES (:t, :h, :c, :o, :s, :m) ON CONFLICT (target_id, hour) DO UPDATE SET "
    "count = rollups.count + excluded.count, ok_count = rollups.ok_count + excluded.ok_count, "
    "latency_sum = rollups.latency_sum + excluded.latency_sum, "
    "latency_max = CASE WHEN excluded.latency_max > rollups.latency_max "
    "THEN excluded.latency_max ELSE rollups.latency_max END"
)


class ResultWriter:
    """Collects results in memory; `flush()` (run in a worker thread) writes them in one transaction."""

    ROLLUP_EVERY_S = 10.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[PendingResult] = []
        # Hourly roll-ups accumulate here and are upserted every ROLLUP_EVERY_S (and on stop):
        # one upsert per target per flush instead of one per result. Raw rows stay per batch.
        self.roll: dict[tuple[str, int], list[float]] = {}
        self.roll_flushed_at = time.monotonic()
        self._inline: sqlite3.Connection | None = None
        self.inline_commits = 0  # since the last checkpoint (see `checkpoint`)
        self.written = 0
        self.batches = 0
        self.last_batch_size = 0

    def add(self, target_id: str, ts: float, result: ProbeResult, ping: str | None = None) -> None:
        self.pending.append(PendingResult(target_id, ts, result, ping))

    def forget(self, target_id: str) -> None:
        """A removed target: its queued results and roll-up counts are dropped, not written after
        the rows were deleted (an erased subscriber's targets leave nothing behind)."""
        self.pending = [p for p in self.pending if p.target_id != target_id]
        for key in [k for k in self.roll if k[0] == target_id]:
            del self.roll[key]

    def take(self) -> list[PendingResult]:
        batch, self.pending = self.pending, []
        return batch

    def prepare(self, batch: list[PendingResult]) -> list[tuple[Any, ...]]:
        """Row tuples for a batch (details sealed); roll-ups are accumulated here, once."""
        seal = self.store.keys.seal
        rows: list[tuple[Any, ...]] = []
        roll = self.roll
        for p in batch:
            r = p.result
            detail = None
            if r.detail and not r.ok:
                detail = seal(r.detail, "results", "detail_s", f"{p.target_id}@{p.ts:.6f}")
            rows.append(
                (p.target_id, p.ts, r.ok, r.latency_ms, r.value, r.error_class, detail, p.ping)
            )
            key = (p.target_id, int(p.ts // 3600))
            agg = roll.get(key)
            if agg is None:
                agg = roll[key] = [0, 0, 0.0, 0.0]
            agg[0] += 1
            agg[1] += 1 if r.ok else 0
            lat = r.latency_ms or 0.0
            agg[2] += lat
            if lat > agg[3]:
                agg[3] = lat
        return rows

    def rollups_due(self) -> bool:
        return bool(self.roll) and time.monotonic() - self.roll_flushed_at >= self.ROLLUP_EVERY_S

    def commit(self, rows: list[tuple[Any, ...]], rollups: bool | None = None) -> int:
        """One transaction: the rows, plus the roll-ups when due (or when asked). Any thread."""
        if rollups is None:
            rollups = self.rollups_due()
        ups = [(t, h, a[0], a[1], a[2], a[3]) for (t, h), a in self.roll.items()] if rollups else []
        if not rows and not ups:
            return 0
        with self.store.engine.begin() as conn:
            if self.store.sqlite:
                # The driver's executemany: SQLAlchemy's per-row compile work dominates otherwise.
                if rows:
                    conn.exec_driver_sql(_SQLITE_INSERT, rows)
                if ups:
                    conn.exec_driver_sql(_SQLITE_UPSERT, ups)
            else:
                if rows:
                    conn.execute(insert(_RESULTS), [dict(zip(_COLS, r, strict=True)) for r in rows])
                if ups:
                    conn.execute(_UPSERT, [dict(zip("thcosm", u, strict=True)) for u in ups])
        if rollups:
            self.roll = {}
            self.roll_flushed_at = time.monotonic()
        self._count(len(rows))
        return len(rows)

    def commit_inline(self, rows: list[tuple[Any, ...]]) -> bool:
        """SQLite only, on the event loop: a small group commit without a thread hop. False when
        the database is busy or failing: the caller retries the same rows in a worker thread."""
        conn = self._inline_conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_SQLITE_INSERT, rows)
            conn.execute("COMMIT")
            self.inline_commits += 1
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return False
        self._count(len(rows))
        return True

    def _inline_conn(self) -> sqlite3.Connection:
        if self._inline is None:
            from sqlalchemy.engine import make_url

            path = make_url(self.store.url).database or ""
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # Short busy timeout: this runs on the event loop, so a locked store falls back to the
            # worker thread (which waits patiently) instead of stalling every probe.
            conn.execute("PRAGMA busy_timeout=20")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Never checkpoint here: copying WAL pages back into the database file was half the
            # cost of an inline commit. `checkpoint` does it in a worker thread instead.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._inline = conn
        return self._inline

    def checkpoint(self) -> None:
        """Worker thread: a passive WAL checkpoint after inline commits, which never do their own
        (it waits for no one; frames still read by a reader are copied by the next one)."""
        if not self.inline_commits or not self.store.sqlite:
            return
        self.inline_commits = 0
        with self.store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _count(self, n: int) -> None:
        self.written += n
        self.batches += 1
        self.last_batch_size = n

    def write(self, batch: list[PendingResult], rollups: bool | None = None) -> int:
        """prepare + commit: tools and tests."""
        return self.commit(self.prepare(batch), rollups)

    def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    def flush(self) -> int:
        """Everything pending, roll-ups included (tools, tests and shutdown)."""
        return self.write(self.take(), rollups=True)


def recent_results(
    store: Store, target_id: str, limit: int = 50, before: float | None = None
) -> list[dict[str, Any]]:
    """Newest first, with the sealed detail opened (for an authorised caller only)."""
    q = select(Result).where(col(Result.target_id) == target_id)
    if before is not None:
        q = q.where(col(Result.ts) < before)
    q = q.order_by(Result.ts.desc()).limit(limit)  # type: ignore[attr-defined]
    with store.session() as s:
        rows = list(s.execute(q).scalars())
    out = []
    for r in rows:
        detail = (
            store.open_("results", "detail_s", f"{r.target_id}@{r.ts:.6f}", r.detail_s)
            if r.detail_s
            else ""
        )
        out.append(
            {
                "ts": r.ts,
                "ok": r.ok,
                "latency_ms": r.latency_ms,
                "value": r.value,
                "error_class": r.error_class,
                "detail": detail,
                "ping": r.ping,
            }
        )
    return out


# A heartbeat state's times are datetimes made from result floats, rounded to the microsecond.
SINCE_MARGIN_S = 2e-6


def pings_since(
    store: Store, target_id: str, since: float | None, limit: int = 1000
) -> list[tuple[float, str]]:
    """A heartbeat's committed pings after `since` (oldest first, the newest `limit`).

    `since` comes from a datetime made from the same float (SINCE_MARGIN_S keeps that ping out).
    """
    q = select(col(Result.ts), col(Result.ping)).where(
        col(Result.target_id) == target_id,
        col(Result.ping).is_not(None),
    )
    if since is not None:
        q = q.where(col(Result.ts) > since + SINCE_MARGIN_S)
    q = q.order_by(Result.ts.desc()).limit(limit)  # type: ignore[attr-defined]
    with store.session() as s:
        rows = list(s.execute(q).all())
    return [(float(ts), str(ping)) for ts, ping in reversed(rows)]


def latest_result_ts(store: Store, target_ids: list[str]) -> dict[str, float]:
    """Each target's newest result time (targets without results are absent): one index seek per
    target, 500 targets per query, so a restart with 10,000 heartbeats asks little of the store."""
    out: dict[str, float] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(target_ids), 500):
            q = (
                select(_RESULTS.c.target_id, func.max(_RESULTS.c.ts))
                .where(_RESULTS.c.target_id.in_(target_ids[i : i + 500]))
                .group_by(_RESULTS.c.target_id)
            )
            out.update({str(t): float(m) for t, m in conn.execute(q)})
    return out


def uptime(store: Store, target_id: str, seconds: float, now: float | None = None) -> float | None:
    """Share of successful checks over the window, from hourly roll-ups (None when no data)."""
    now = now or time.time()
    first_hour = int((now - seconds) // 3600)
    q = select(func.sum(Rollup.count), func.sum(Rollup.ok_count)).where(
        col(Rollup.target_id) == target_id, col(Rollup.hour) >= first_hour
    )
    with store.session() as s:
        total, ok = s.execute(q).one()
    if not total:
        return None
    return float(ok) / float(total)


def uptime_many(store: Store, seconds: float, now: float | None = None) -> dict[str, float]:
    now = now or time.time()
    first_hour = int((now - seconds) // 3600)
    q = (
        select(col(Rollup.target_id), func.sum(col(Rollup.count)), func.sum(col(Rollup.ok_count)))
        .where(col(Rollup.hour) >= first_hour)
        .group_by(Rollup.target_id)
    )
    with store.session() as s:
        return {t: float(o) / float(c) for t, c, o in s.execute(q).all() if c}


def latency_series(
    store: Store, target_id: str, seconds: float, buckets: int, now: float | None = None
) -> list[dict[str, Any]]:
    """Bucketed latency, availability and mean value (a system metric's percent, a command's
    number) for charts: raw rows when recent, roll-ups beyond (they keep no value)."""
    now = now or time.time()
    start = now - seconds
    width = seconds / buckets
    out: list[dict[str, Any]] = [
        {"t": start + i * width, "n": 0, "ok": 0, "lat": 0.0, "vn": 0, "vsum": 0.0}
        for i in range(buckets)
    ]
    if seconds <= 86400 * 2:  # raw results
        q = select(col(Result.ts), col(Result.ok), col(Result.latency_ms), col(Result.value)).where(
            col(Result.target_id) == target_id, col(Result.ts) >= start
        )
        with store.session() as s:
            for ts, ok, lat, value in s.execute(q).all():
                b = out[min(buckets - 1, int((ts - start) / width))]
                b["n"] += 1
                b["ok"] += 1 if ok else 0
                b["lat"] += lat or 0.0
                if value is not None:
                    b["vn"] += 1
                    b["vsum"] += value
    else:
        q2 = select(Rollup).where(
            col(Rollup.target_id) == target_id, col(Rollup.hour) >= int(start // 3600)
        )
        with store.session() as s:
            for r in s.execute(q2).scalars():
                b = out[max(0, min(buckets - 1, int((r.hour * 3600 - start) / width)))]
                b["n"] += r.count
                b["ok"] += r.ok_count
                b["lat"] += r.latency_sum
    for b in out:
        b["latency_ms"] = b["lat"] / b["n"] if b["n"] else None
        b["availability"] = b["ok"] / b["n"] if b["n"] else None
        b["value"] = b.pop("vsum") / b["vn"] if b["vn"] else None
        del b["vn"]
    return out


def history_deletes(target_ids: list[str]) -> list[Any]:
    """The statements that delete targets' results and roll-ups: a target's removal and the purge
    of a late batch's leftovers run the same ones."""
    rollups = Rollup.__table__  # type: ignore[attr-defined]
    return [
        delete(_RESULTS).where(_RESULTS.c.target_id.in_(target_ids)),
        delete(rollups).where(rollups.c.target_id.in_(target_ids)),
        delete(_LOC_ROLLUPS).where(_LOC_ROLLUPS.c.target_id.in_(target_ids)),
        delete(MaintenanceSpan).where(col(MaintenanceSpan.target_id).in_(target_ids)),
    ]


def purge_targets(store: Store, target_ids: Iterable[str]) -> None:
    """Results and roll-ups of removed targets, in one transaction (a late batch's leftovers)."""
    ids = list(target_ids)
    with store.engine.begin() as conn:
        for i in range(0, len(ids), 500):
            for stmt in history_deletes(ids[i : i + 500]):
                conn.execute(stmt)


def housekeeping(
    store: Store,
    raw_days: int,
    rollup_days: int,
    now: float | None = None,
    history_days: int | None = None,
) -> dict[str, int]:
    """Retention: raw results and roll-ups past their age; with `history_days`, also resolved
    incidents with their notifications and receipts, delivered or given-up notifications, the
    audit log and benchmark runs older than that. Returns rows removed per table."""
    now = now or time.time()
    out: dict[str, int] = {}
    with store.engine.begin() as conn:
        r1 = conn.execute(delete(_RESULTS).where(_RESULTS.c.ts < now - raw_days * 86400))
        r2 = conn.execute(
            delete(_ROLLUPS).where(_ROLLUPS.c.hour < int((now - rollup_days * 86400) // 3600))
        )
        old_hour = int((now - rollup_days * 86400) // 3600)
        r3 = conn.execute(delete(_LOC_ROLLUPS).where(_LOC_ROLLUPS.c.hour < old_hour))
        out = {"results": r1.rowcount or 0, "rollups": (r2.rowcount or 0) + (r3.rowcount or 0)}
        if history_days is not None:
            out.update(_old_history(conn, now - history_days * 86400))
    return out


def _old_history(conn: Any, cutoff: float) -> dict[str, int]:
    """Rows that only record the past; open incidents and pending sends are never touched."""
    from engine.store.models import AuditEntry, BenchmarkRun, Incident, Notification, Receipt

    inc = Incident.__table__  # type: ignore[attr-defined]
    note = Notification.__table__  # type: ignore[attr-defined]
    rec = Receipt.__table__  # type: ignore[attr-defined]
    old_incidents = select(inc.c.id).where(inc.c.state == "resolved", inc.c.resolved_at < cutoff)
    done = note.c.status.in_(("sent", "dead", "cancelled", "failed"))
    # An incident still open needs its notifications (reminders, escalation, who was told).
    still_open = select(inc.c.id).where(inc.c.state != "resolved")
    unattached = or_(note.c.incident_id.is_(None), note.c.incident_id.not_in(still_open))
    old_notes = select(note.c.id).where(
        or_(
            note.c.incident_id.in_(old_incidents),
            and_(done, note.c.created_at < cutoff, unattached),
        )
    )
    receipts = conn.execute(delete(rec).where(rec.c.notification_id.in_(old_notes))).rowcount
    notes = conn.execute(delete(note).where(note.c.id.in_(old_notes))).rowcount
    incidents = conn.execute(delete(inc).where(inc.c.id.in_(old_incidents))).rowcount
    audit = AuditEntry.__table__  # type: ignore[attr-defined]
    runs = BenchmarkRun.__table__  # type: ignore[attr-defined]
    return {
        "incidents": incidents or 0,
        "notifications": notes or 0,
        "receipts": receipts or 0,
        "audit": conn.execute(delete(audit).where(audit.c.ts < cutoff)).rowcount or 0,
        "benchmark_runs": conn.execute(delete(runs).where(runs.c.ts < cutoff)).rowcount or 0,
    }
