"""The escalation tick with many open incidents: what one pass over every open incident costs.

    python -m tests.perf.escalation [--incidents N] [--repeat R] [--check]

Builds a store (SQLite in a temp dir, or SYSALERT_DATABASE_URL's empty schema) with three contacts
(two at level 1, one at level 2), N targets and N open incidents as alerting leaves them: most
alerted at level 1 a few minutes ago, a quarter escalated to level 2 long ago (due again each tick
but nobody at level 3, reminded recently), some read, some silenced, some held under a parent,
some on targets in maintenance; plus N resolved incidents with their notifications (history).
Then times the real tick (`escalate_and_resend`) at a moment when nothing is due, median of R runs,
next to a bare read of the same rows (open incidents left-joined to their notifications) in the
same run. Before the tick read every incident's notifications with its own query: about 450 ms at
2,000 open incidents. Last line: JSON. `--check` exits 1 when the tick costs more than twice the
bare read (`ratio_budget`) or more than `budget_ms` of CPU: CPU time, not wall time, because on a
busy 2-core machine the wall time of the same work varies two- to threefold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.perf.common import emit, rss_mb, temp_env, unique_ids

BUDGET_MS = 20.0  # CPU ms of one tick at 2,000 open incidents; scaled linearly for other sizes
RATIO_BUDGET = 2.0  # the tick against a bare read of the same rows, same run
ESCALATE_AFTER = 600.0
RESEND = 1800.0


def interleaved_ms(
    fns: dict[str, Callable[[], Any]], repeat: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU time of each function, run in turn so that both see the same machine
    load (the ratio stays meaningful on a busy machine even when the absolute figures do not; the
    CPU time is this process's own work, SQLite's included)."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[name].append(
                ((time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000)
            )
    return {
        name: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
        for name, ts in times.items()
    }


def build(engine: Any, n: int, t0: float) -> dict[str, int]:
    """Targets, incidents and outbox rows as the alerting path writes them, in bulk."""
    from engine.alerting import notifications
    from engine.core.domain import TargetRecord
    from engine.notify import outbox
    from engine.store import contacts as cstore
    from engine.store.models import Incident, Notification
    from engine.store.store import new_id
    from engine.store.targets import to_row

    store, cmds, al = engine.store, engine.commands, engine.alerting
    cmds.add_contact("first", "webhook:http://127.0.0.1:9/first", 1)
    cmds.add_contact("pager", "webhook:http://127.0.0.1:9/pager", 1)
    cmds.add_contact("boss", "webhook:http://127.0.0.1:9/boss", 2)
    by_level: dict[int, list[Any]] = {1: [], 2: []}
    for c in cstore.load_all(store):
        by_level[c.level].append(c)

    tids = unique_ids(n)
    with store.session() as s:
        for i, tid in enumerate(tids):
            rec = TargetRecord(
                id=tid,
                name=f"svc-{i:05d}",
                spec_text=f"tcp://127.0.0.1:{1024 + i % 60000}",
                kind="tcp",
                interval_s=30.0,
                timeout_s=2.0,
            )
            s.add(to_row(store, rec))
        s.commit()
    engine._load()
    for tid in tids[: max(1, n // 50)]:  # 2 %: in maintenance
        cmds.maintenance_on(tid, "1h")
    al.reload_maintenance(t0)

    counts = {"silenced": 0, "held": 0, "escalated": 0, "read": 0, "fresh": 0, "resolved": n}
    open_ids = unique_ids(2 * n)
    parents: list[str] = []
    with store.session() as s:

        def note(inc: Incident, contact: Any, kind: str, level: int, at: float, **kw: Any) -> None:
            rec = engine.targets.get(inc.target_id or "")
            msg = notifications.message(store, inc, rec, kind, level)
            nid = new_id(length=14)
            body = store.seal(outbox.N, "body_s", nid, outbox.encode_message(msg))
            s.add(
                Notification(
                    id=nid,
                    incident_id=inc.id,
                    contact_id=contact.id,
                    channel=contact.channel,
                    kind=kind,
                    level=level,
                    status="sent",
                    attempts=1,
                    next_attempt_at=at,
                    created_at=at,
                    sent_at=at + 0.2,
                    body_s=body,
                    **kw,
                )
            )

        for i in range(2 * n):
            iid, tid = open_ids[i], tids[i % n]
            resolved = i >= n
            slot = i % 20
            opened = t0 - (3000 if slot <= 5 or resolved else 120)
            inc = Incident(
                id=iid,
                dedup_key=f"target:{tid}",
                target_id=tid,
                kind="down",
                state="resolved" if resolved else "firing",
                severity="high",
                opened_at=opened,
                resolved_at=t0 - 60 if resolved else None,
                error_class="refused",
                last_notified_at=opened,
                summary_s=store.seal("incidents", "summary_s", iid, f"svc-{i % n:05d} refused"),
            )
            read = {"read_at": opened + 30} if slot == 5 and not resolved else {}
            for c in by_level[1]:
                note(inc, c, "alert", 1, opened, **read)
            if resolved:
                for c in by_level[1]:
                    note(inc, c, "resolved", 1, t0 - 60)
            elif slot < 5:  # escalated long ago; level 3 has nobody, so due again every tick
                inc.escalation_level = 2
                for c in by_level[2]:
                    note(inc, c, "escalation", 2, opened + ESCALATE_AFTER)
                    note(inc, c, "reminder", 2, t0 - 100)
                inc.last_notified_at = t0 - 100
                counts["escalated"] += 1
            elif slot == 5:  # read at level 1: no escalation, reminders only
                for c in by_level[1]:
                    note(inc, c, "reminder", 1, t0 - 200)
                inc.last_notified_at = t0 - 200
                counts["read"] += 1
            elif slot == 6:
                inc.state, inc.silenced_until = "silenced", t0 + 3600
                counts["silenced"] += 1
            elif slot == 7 and parents:
                inc.parent_incident_id = parents[-1]  # held under a parent still firing
                counts["held"] += 1
            else:
                parents.append(iid)
                counts["fresh"] += 1
            s.add(inc)
        s.commit()
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the ratio or the tick's CPU time is over budget",
    )
    a = ap.parse_args()
    temp_env()
    from engine.alerting.escalation import escalate_and_resend
    from engine.config.settings import load_settings
    from engine.runtime.bootstrap import open_store
    from engine.runtime.engine import Engine
    from engine.store.models import Notification

    settings = load_settings()
    settings.engine.seed_local_targets = False
    settings.alerts.escalation_after = ESCALATE_AFTER
    settings.alerts.resend_interval = RESEND
    store = open_store(settings)
    engine = Engine(settings, store)
    now = time.time()
    t0 = time.perf_counter()
    counts = build(engine, a.incidents, now)
    build_s = time.perf_counter() - t0
    states = "('firing', 'silenced')"

    def bare() -> list[Any]:
        with store.engine.connect() as conn:
            return list(
                conn.exec_driver_sql(
                    "SELECT i.id, i.state, i.silenced_until, i.parent_incident_id, i.target_id,"
                    " i.escalation_level, i.last_notified_at, n.level, n.kind, n.created_at,"
                    " n.read_at FROM incidents i LEFT JOIN notifications n"
                    f" ON n.incident_id = i.id WHERE i.state IN {states}"
                ).fetchall()
            )

    def outbox_rows() -> int:
        with store.engine.connect() as conn:
            return int(
                conn.exec_driver_sql(f"SELECT count(*) FROM {Notification.__tablename__}").scalar()
            )

    before = outbox_rows()
    bare_rows = len(bare())
    escalate_and_resend(engine.alerting, now)  # warm: connections, statement caches
    ms = interleaved_ms(
        {"bare": bare, "tick": lambda: escalate_and_resend(engine.alerting, now)}, a.repeat
    )
    (bare_ms, bare_cpu), (tick_ms, tick_cpu) = ms["bare"], ms["tick"]
    queued = outbox_rows() - before  # a steady tick queues nothing; anything else is a bug here
    budget = round(BUDGET_MS * max(1.0, a.incidents / 2000), 1)
    out: dict[str, Any] = {
        "incidents": a.incidents,
        "database": "sqlite" if store.sqlite else "postgresql",
        "build_s": round(build_s, 1),
        "bare_rows": bare_rows,
        **{f"open_{k}": v for k, v in counts.items()},
        "queued_by_tick": queued,
        "bare_ms": round(bare_ms, 2),
        "tick_ms": round(tick_ms, 2),
        "ratio": round(tick_ms / bare_ms, 2) if bare_ms else 0.0,
        "bare_cpu_ms": round(bare_cpu, 2),
        "tick_cpu_ms": round(tick_cpu, 2),
        "budget_ms": budget,
        "ratio_budget": RATIO_BUDGET,
        "within_budget": (
            tick_cpu <= budget and (tick_ms / bare_ms if bare_ms else 0.0) <= RATIO_BUDGET
        )
        and queued == 0,
        "rss_mb": round(rss_mb(), 1),
    }
    store.close()
    emit(out)
    return 1 if a.check and not out["within_budget"] else 0


if __name__ == "__main__":
    sys.exit(main())
