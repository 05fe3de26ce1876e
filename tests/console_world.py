"""The data of the console's fixture world: targets, results, incidents, receipts, windows,
benchmarks and history, all at fixed times with fixed ids (see console_fixture.py for the app side).

Every target points at 127.0.0.1 (closed ports), so a test that starts the engine probes nothing
beyond loopback.

Fixed master key, fixed ids, fixed timestamps around FIXED_NOW and a frozen clock, so every
screen renders the same text on every run. Targets and contacts go through the command layer;
rows whose ids or timestamps the commands choose themselves (incidents, audit entries, windows)
are written with the store's own sealing so they read back exactly like real ones.
"""

from __future__ import annotations

import base64
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update

from engine.checks.probes.base import ProbeResult
from engine.commands import Commands
from engine.config.settings import Settings, load_settings
from engine.notify import outbox
from engine.notify.message import OutgoingMessage
from engine.security.crypto import KeyRing
from engine.store import targets as tstore
from engine.store import windows as wstore
from engine.store.history import PendingResult, ResultWriter
from engine.store.models import AuditEntry, Incident, Notification
from engine.store.store import Store
from engine.timing.schedules import parse_window

FIXED_NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
MASTER = bytes(range(32))
MASTER_B64 = base64.b64encode(MASTER).decode()

# id, spec, name, tags, stored state, last latency, error class, seconds since last check
TARGETS: tuple[tuple[str, str, str, tuple[str, ...], str, float | None, str | None, float], ...] = (
    ("tquokka", "tcp://127.0.0.1:9", "quokka-api", ("api",), "down", 0.4, "refused", 12),
    (
        "twebfront",
        "http://127.0.0.1:18080/health",
        "web-frontend",
        ("web", "prod"),
        "up",
        84.2,
        None,
        20,
    ),
    ("tdbprim", "tcp://127.0.0.1:15432", "db-primary", ("db",), "degraded", 412.0, None, 8),
    (
        "tdnsres",
        "dns://example.org?type=A&server=127.0.0.1:15353",
        "dns-resolver",
        (),
        "pending",
        5000.0,
        "timeout",
        31,
    ),
    ("tbackup", "icmp://127.0.0.1", "backup-nas", ("storage",), "up", 1.3, None, 5),
    (
        "tnightly",
        "heartbeat://nightly-backup?every=1d&grace=1h",
        "nightly-backup",
        (),
        "unknown",
        None,
        None,
        0,
    ),
    ("tcpuload", "system://cpu?max=95", "cpu", (), "up", 0.2, None, 3),
    ("tlegacy", "tcp://127.0.0.1:2121", "legacy-ftp", ("old",), "paused", None, None, 3600),
)


def frozen_clock() -> float:
    return FIXED_NOW


def fixture_settings(data_dir: Path) -> Settings:
    return load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})


def open_fixture_store(settings: Settings) -> Store:
    return Store.open(settings.database_url, KeyRing.from_masters([MASTER]))


def _results(store: Store) -> None:
    """An hour of results every 30 s per probed target, with a few failures in fixed places."""
    batch = []
    for tid, _spec, _name, _tags, state, latency, error, _ago in TARGETS:
        if state in ("paused", "unknown"):
            continue
        base = latency or 1.0
        for k in range(120):
            ts = FIXED_NOW - 30 * k - 3
            failed = (
                (tid == "tquokka" and k < 11)
                or (tid == "tdnsres" and k == 0)
                or (tid == "twebfront" and k == 60)
            )
            lat = round(base * (0.6 + ((k * 7) % 9) / 10), 2)
            # The cpu target carries its metric, as system probes do: a percent per check.
            value = float(20 + (k * 13) % 60) if tid == "tcpuload" else None
            res = (
                ProbeResult.failure(error or "status", "connection refused", lat)
                if failed
                else ProbeResult(True, lat, value)
            )
            batch.append(PendingResult(tid, ts, res))
    ResultWriter(store).write(batch, rollups=True)


def _incidents(store: Store, contacts: dict[str, str]) -> None:
    rows = (
        ("inquokka", "tquokka", "firing", "high", "quokka-api is down (refused)", 300, None),
        (
            "indbslow",
            "tdbprim",
            "acknowledged",
            "medium",
            "db-primary latency over 400 ms",
            1800,
            "anna",
        ),
        ("indnsold", "tdnsres", "resolved", "high", "dns-resolver is down (timeout)", 7200, "ben"),
    )
    with store.session() as s:
        for iid, tid, state, sev, summary, age, acked_by in rows:
            inc = Incident(
                id=iid,
                dedup_key=f"target:{tid}",
                target_id=tid,
                kind="down",
                state=state,
                severity=sev,
                opened_at=FIXED_NOW - age,
                summary_s=store.seal("incidents", "summary_s", iid, summary),
            )
            if acked_by:
                inc.acked_at = FIXED_NOW - age + 120
                inc.acked_by_s = store.seal("incidents", "acked_by_s", iid, acked_by)
            if state == "resolved":
                inc.resolved_at = FIXED_NOW - age + 900
            s.add(inc)
        s.commit()
    sends = (  # incident, contact, status, sent after (s), read after (s)
        ("inquokka", "oncall-anna", "sent", 2, 40),
        ("inquokka", "ops-mail", "sent", 3, None),
        ("inquokka", "team-hook", "pending", None, None),
        ("indbslow", "oncall-anna", "sent", 1, 60),
    )
    opened = {r[0]: FIXED_NOW - r[5] for r in rows}
    for n, (iid, contact, status, sent, read) in enumerate(sends):
        msg = OutgoingMessage(
            kind="alert",
            incident_id=iid,
            severity="high",
            target_name="t",
            target_ref="",
            state="down",
            since=_dt(opened[iid]),
            level=2 if contact == "team-hook" else 1,
        )
        nid = outbox.enqueue(
            store,
            contacts[contact],
            "telegram" if contact == "oncall-anna" else "email",
            msg,
            iid,
            opened[iid] + n,
        )
        values: dict[str, Any] = {"status": status}
        if sent is not None:
            values["sent_at"] = opened[iid] + sent
        if read is not None:
            values["read_at"] = opened[iid] + read
        with store.engine.begin() as conn:
            conn.execute(
                update(Notification.__table__)
                .where(Notification.__table__.c.id == nid)
                .values(**values)
            )  # type: ignore[attr-defined]
    with store.engine.begin() as conn:  # channels as the contacts have them
        conn.execute(
            update(Notification.__table__)
            .where(  # type: ignore[attr-defined]
                Notification.__table__.c.contact_id == contacts["team-hook"]
            )
            .values(channel="webhook")
        )  # type: ignore[attr-defined]


def _dt(ts: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(ts, UTC)


def _windows(store: Store) -> None:
    wstore.insert(
        store,
        wstore.Window(
            "wbackup",
            "target",
            "tbackup",
            None,
            "toggle",
            FIXED_NOW - 1200,
            None,
            None,
            "disk swap",
            FIXED_NOW - 1200,
        ),
    )
    wstore.insert(
        store,
        wstore.Window(
            "wdbweek",
            "tag",
            None,
            "db",
            "weekly",
            None,
            None,
            parse_window("sun 02:00-04:00"),
            "weekly vacuum",
            FIXED_NOW - 86400,
        ),
    )


def _rules(store: Store) -> None:
    """Two run-time rules with fixed ids (no audit rows: the History snapshot stays as it is)."""
    from engine.core.rulespec import RuleSpec
    from engine.store import rules as rules_store

    rules_store.insert(
        store, RuleSpec("rcpuhot", "cpu hot", "system.cpu", ">", 90.0, 300.0, "high"), None
    )
    slow = RuleSpec(
        "rapislow", "api slow", "latency", ">", 800.0, 120.0, "medium", [], "tquokka", False
    )
    rules_store.insert(store, slow, "tquokka")


def _benchmarks(store: Store) -> None:
    from engine.store import benchmarks as bstore

    for bid, name, spec, kind, base, scores, higher in (
        (
            "bcpuscore",
            "cpu-score",
            "cpu",
            "cpu",
            1000.0,
            [990, 1010, 1005, 998, 1012, 1003, 995, 1008],
            True,
        ),
        (
            "bapilat",
            "api-latency",
            "https://example.org/api",
            "http",
            120.0,
            [118, 121, 125, 119, 140, 165, 190, 210],
            False,
        ),
    ):
        rec = bstore.BenchRecord(
            id=bid,
            name=name,
            spec_text=spec,
            kind=kind,
            baseline=base,
            threshold_pct=20.0 if kind == "cpu" else 50.0,
            higher_is_better=higher,
            created_at=FIXED_NOW - 86400 * 7,
        )
        bstore.insert(store, rec)
        runs = [
            (FIXED_NOW - 3600 * (len(scores) - i), float(v), True) for i, v in enumerate(scores)
        ]
        bstore.record_runs(
            store, bid, runs, {"last_score": float(scores[-1]), "last_run_at": runs[-1][0]}
        )


def _audit(cmds: Commands) -> None:
    """History with fixed times: what the engine and operators would have written."""
    store = cmds.store
    with store.engine.begin() as conn:
        conn.execute(delete(AuditEntry.__table__))  # type: ignore[attr-defined]
    entries = (
        (7200, "state.down", "tdnsres", "engine", "pending -> down (timeout)"),
        (7190, "incident.open", None, "engine", None),
        (6300, "state.up", "tdnsres", "engine", "down -> up"),
        (3600, "target.pause", "tlegacy", "ben", None),
        (1800, "state.degraded", "tdbprim", "engine", "up -> degraded"),
        (1680, "incident.ack", None, "anna", None),
        (1200, "maintenance.on", "tbackup", "ben", None),
        (330, "state.pending", "tquokka", "engine", "up -> pending (refused)"),
        (300, "state.down", "tquokka", "engine", "pending -> down (refused)"),
        (298, "incident.open", None, "engine", None),
        (31, "state.pending", "tdnsres", "engine", "up -> pending (timeout)"),
    )
    with store.session() as s:
        for age, action, tid, actor, detail in entries:
            ts = FIXED_NOW - age
            ref = (
                store.ref("target", tid)
                if tid
                else ("incident:inquokka" if age < 400 else "incident:indbslow")
            )
            row = f"{ts:.6f}:{action}"
            s.add(
                AuditEntry(
                    ts=ts,
                    action=action,
                    object_ref=ref,
                    actor_s=store.seal("audit", "actor_s", row, actor),
                    detail_s=store.seal("audit", "detail_s", row, detail),
                )
            )
        s.commit()


def build_world(data_dir: Path) -> tuple[Settings, Store]:
    """Create the fixture store in data_dir (a fresh directory)."""
    settings = fixture_settings(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_fixture_store(settings)
    cmds = Commands(store, settings)
    for tid, spec, name, tags, state, latency, error, ago in TARGETS:
        conditions = ["[STATUS] == 200"] if name == "web-frontend" else []
        rec = cmds.build_target(
            spec,
            name=name,
            interval="30s" if state != "paused" else "1m",
            tags=list(tags),
            conditions=conditions,
        )
        rec.id, rec.created_at = tid, FIXED_NOW - 86400
        if rec.token:  # a heartbeat's ping URL is on screen: the same one every run
            rec.token = f"fixture-ping-token-{tid}"
        rec.paused = state == "paused"
        rec.state, rec.state_since = state, FIXED_NOW - 300 - ago
        rec.last_latency_ms, rec.last_error_class = latency, error
        rec.last_check_at = FIXED_NOW - ago if state != "unknown" else None
        tstore.insert(store, rec)
    _results(store)
    contacts = {}
    for name, address, level in (
        ("oncall-anna", "telegram:@anna_oncall", 1),
        ("ops-mail", "email:ops@example.com", 1),
        ("team-hook", "webhook:http://127.0.0.1:9/sysalert", 2),
    ):
        contacts[name] = cmds.add_contact(name, address, level)["id"]
    _incidents(store, contacts)
    _windows(store)
    _benchmarks(store)
    _rules(store)
    _audit(cmds)
    return settings, store
