"""Tables. Columns ending in `_s` hold AES-GCM sealed bytes; `_fp` columns hold HMAC fingerprints.

Rows with sealed columns use client-made string ids so the associated data (table|column|row) is
known before the insert. Nothing that names infrastructure or a person is stored in plaintext.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 5
# Indexes added without a new schema version: any store gets them at its next start (an index
# changes no row, and an older SysAlert reads a store that has it).
ADDED_INDEXES = ("ix_audit_ref_ts", "ix_audit_action_ts", "ix_incidents_state_opened")


def _blob(nullable: bool = True) -> Column:
    return Column(LargeBinary, nullable=nullable)


class Meta(SQLModel, table=True):
    """Key-value settings: schema version, sealed secrets (Telegram session), rotation state."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str | None = None
    value_s: bytes | None = Field(default=None, sa_column=_blob())


class Target(SQLModel, table=True):
    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("name_fp", name="uq_targets_name_fp"),)
    id: str = Field(primary_key=True, max_length=16)
    name_fp: str = Field(max_length=64)
    name_s: bytes = Field(sa_column=_blob(False))
    spec_s: bytes = Field(sa_column=_blob(False))
    kind: str = Field(max_length=16)
    interval_s: float = 30.0
    timeout_s: float = 5.0
    tags_s: bytes | None = Field(default=None, sa_column=_blob())
    tag_fps: str = ""  # space-separated fingerprints, for per-tag maintenance
    conditions_s: bytes | None = Field(default=None, sa_column=_blob())
    options_s: bytes | None = Field(default=None, sa_column=_blob())
    token_fp: str | None = Field(default=None, max_length=64, index=True)
    token_s: bytes | None = Field(default=None, sa_column=_blob())
    owner_id: str | None = Field(default=None, max_length=16, index=True)
    parent_id: str | None = Field(default=None, max_length=16)
    failure_threshold: int | None = None
    recovery_threshold: int | None = None
    paused: bool = False
    declared: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    # Durable runtime state, so a restart resumes where it stopped.
    state: str = "unknown"
    state_since: float = 0.0
    next_due: float = 0.0
    last_check_at: float | None = None
    last_latency_ms: float | None = None
    last_error_class: str | None = None
    fail_streak: int = 0
    ok_streak: int = 0
    flapping: bool = False
    hb_state: str | None = None  # heartbeat state JSON (timestamps and kinds only)
    # Where it is probed from: "" = by one engine anywhere; "fra,nyc" = by one engine in each,
    # down when `quorum` of them (None: a majority) see it down. Location names are labels.
    locations: str = ""
    quorum: int | None = None


class Result(SQLModel, table=True):
    __tablename__ = "results"
    __table_args__ = (Index("ix_results_target_ts", "target_id", "ts"),)
    id: int | None = Field(default=None, primary_key=True)
    target_id: str = Field(max_length=16)
    ts: float
    ok: bool
    latency_ms: float | None = None
    value: float | None = None
    error_class: str | None = Field(default=None, max_length=16)
    detail_s: bytes | None = Field(default=None, sa_column=_blob())
    # Heartbeat pings: success, fail, start, log or exit:N. A restart folds the pings committed
    # after the last runtime-state flush back into the heartbeat's state (`HeartbeatRunner.replay`).
    ping: str | None = Field(default=None, max_length=8)


class Rollup(SQLModel, table=True):
    """Hourly roll-ups, kept longer than raw results."""

    __tablename__ = "rollups"
    target_id: str = Field(primary_key=True, max_length=16)
    hour: int = Field(primary_key=True)  # epoch seconds // 3600
    count: int = 0
    ok_count: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0


OPEN_INCIDENT_SQL = "state IN ('firing', 'acknowledged', 'silenced')"


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    # One open incident per key store-wide: two engines opening the same one at once both try,
    # and the second insert fails (engine.alerting.incidents returns the first).
    __table_args__ = (
        Index(
            "uq_incidents_open_key",
            "dedup_key",
            unique=True,
            postgresql_where=text(OPEN_INCIDENT_SQL),
            sqlite_where=text(OPEN_INCIDENT_SQL),
        ),
        # The Alerts screen's order: each state newest first (engine.store.list_pages).
        Index("ix_incidents_state_opened", "state", "opened_at", "id"),
    )
    id: str = Field(primary_key=True, max_length=16)
    dedup_key: str = Field(max_length=80, index=True)
    target_id: str | None = Field(default=None, max_length=16, index=True)
    rule_id: str | None = Field(default=None, max_length=16)
    parent_incident_id: str | None = Field(default=None, max_length=16)
    kind: str = "down"  # down | rule | benchmark | flapping | telegram
    state: str = Field(default="firing", max_length=16, index=True)
    severity: str = "high"
    opened_at: float = 0.0
    acked_at: float | None = None
    acked_by_s: bytes | None = Field(default=None, sa_column=_blob())
    resolved_at: float | None = None
    silenced_until: float | None = None
    summary_s: bytes | None = Field(default=None, sa_column=_blob())
    error_class: str | None = None
    last_notified_at: float | None = None
    escalation_level: int = 1
    owner_id: str | None = Field(default=None, max_length=16)


class Notification(SQLModel, table=True):
    """The outbox: a row exists before anything is sent."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)
    id: str = Field(primary_key=True, max_length=16)
    incident_id: str | None = Field(default=None, max_length=16, index=True)
    contact_id: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    kind: str = "alert"
    level: int = 1
    status: str = "pending"  # pending | sending | sent | failed | dead
    attempts: int = 0
    next_attempt_at: float = 0.0
    created_at: float = 0.0
    sent_at: float | None = None
    read_at: float | None = None
    acked_by_s: bytes | None = Field(default=None, sa_column=_blob())
    message_id: str | None = Field(default=None, max_length=64)
    body_s: bytes | None = Field(default=None, sa_column=_blob())
    last_error_s: bytes | None = Field(default=None, sa_column=_blob())
    lease_owner: str | None = Field(default=None, max_length=40)
    lease_until: float | None = None


class Receipt(SQLModel, table=True):
    __tablename__ = "receipts"
    id: str = Field(primary_key=True, max_length=16)
    notification_id: str = Field(max_length=16, index=True)
    reader_s: bytes | None = Field(default=None, sa_column=_blob())
    read_at: float = 0.0


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("name_fp", name="uq_contacts_name_fp"),)
    id: str = Field(primary_key=True, max_length=16)
    name_fp: str = Field(max_length=64)
    name_s: bytes = Field(sa_column=_blob(False))
    channel: str = Field(max_length=16)
    address_s: bytes = Field(sa_column=_blob(False))
    address_fp: str = Field(max_length=64, index=True)
    resolved_s: bytes | None = Field(default=None, sa_column=_blob())
    level: int = 1
    owner_id: str | None = Field(default=None, max_length=16, index=True)
    status: str = "ok"  # ok | blocked | invalid
    status_detail_s: bytes | None = Field(default=None, sa_column=_blob())  # a channel's error
    created_at: float = 0.0


class MaintenanceWindow(SQLModel, table=True):
    __tablename__ = "maintenance"
    id: str = Field(primary_key=True, max_length=16)
    scope: str = "target"  # target | tag | all
    scope_fp: str | None = Field(default=None, max_length=64)
    scope_s: bytes | None = Field(default=None, sa_column=_blob())
    target_id: str | None = Field(default=None, max_length=16, index=True)
    kind: str = "oneoff"  # oneoff | weekly | cron | toggle
    starts_at: float | None = None
    ends_at: float | None = None
    schedule_s: bytes | None = Field(default=None, sa_column=_blob())
    reason_s: bytes | None = Field(default=None, sa_column=_blob())
    created_by_s: bytes | None = Field(default=None, sa_column=_blob())
    created_at: float = 0.0
    owner_id: str | None = Field(default=None, max_length=16)


class Rule(SQLModel, table=True):
    __tablename__ = "rules"
    id: str = Field(primary_key=True, max_length=16)
    name_fp: str = Field(max_length=64, index=True)
    name_s: bytes = Field(sa_column=_blob(False))
    metric: str
    comparison: str
    threshold: float
    duration_s: float = 0.0
    severity: str = "medium"
    channels_s: bytes | None = Field(default=None, sa_column=_blob())
    target_id: str | None = Field(default=None, max_length=16)
    enabled: bool = True
    declared: bool = False
    holding_since: float | None = None


class Benchmark(SQLModel, table=True):
    __tablename__ = "benchmarks"
    id: str = Field(primary_key=True, max_length=16)
    name_fp: str = Field(max_length=64, index=True)
    name_s: bytes = Field(sa_column=_blob(False))
    kind: str = "cpu"  # cpu | http | tcp | command
    spec_s: bytes | None = Field(default=None, sa_column=_blob())
    interval_s: float = 3600.0
    baseline: float | None = None
    threshold_pct: float = 20.0
    higher_is_better: bool = True
    last_score: float | None = None
    last_run_at: float | None = None
    owner_id: str | None = Field(default=None, max_length=16, index=True)
    created_at: float = 0.0


class BenchmarkRun(SQLModel, table=True):
    __tablename__ = "benchmark_runs"
    __table_args__ = (Index("ix_bench_runs", "benchmark_id", "ts"),)
    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: str = Field(max_length=16)
    ts: float
    score: float
    ok: bool = True


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit"
    # The History screen's windows: one target's events, one kind's (engine.store.list_pages).
    __table_args__ = (
        Index("ix_audit_ref_ts", "object_ref", "ts"),
        Index("ix_audit_action_ts", "action", "ts"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ts: float = Field(index=True)
    actor_s: bytes | None = Field(default=None, sa_column=_blob())
    action: str = Field(max_length=40)
    object_ref: str | None = Field(default=None, max_length=40)  # short keyed ref, never plaintext
    detail_s: bytes | None = Field(default=None, sa_column=_blob())


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("chat_fp", name="uq_subscribers_chat_fp"),)
    id: str = Field(primary_key=True, max_length=16)
    chat_fp: str = Field(max_length=64)
    chat_s: bytes = Field(sa_column=_blob(False))
    role: str = "subscriber"  # subscriber | admin
    max_targets: int | None = None
    max_benchmarks: int | None = None
    created_at: float = 0.0
    last_seen_at: float | None = None


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    id: str = Field(primary_key=True, max_length=16)
    key_hash: str = Field(max_length=64, index=True)
    label_s: bytes | None = Field(default=None, sa_column=_blob())
    created_at: float = 0.0


class EngineRow(SQLModel, table=True):
    """One running engine of a shared (PostgreSQL) store: it says it is alive every round."""

    __tablename__ = "engines"
    id: str = Field(primary_key=True, max_length=40)
    location: str = Field(default="default", max_length=40)
    started_at: float = 0.0
    last_seen: float = 0.0  # the database's clock, so hosts' clocks need not agree
    held: int = 0  # target leases held at the last round
    leader: bool = False  # runs the store-wide duties (escalation, reminders, retention)
    stopped: bool = False


class TargetLease(SQLModel, table=True):
    """Who probes a target in one location, until when, and what that location saw last.
    location "*" stands for "any one engine" (a target without locations)."""

    __tablename__ = "target_leases"
    __table_args__ = (Index("ix_target_leases_holder", "holder"),)
    target_id: str = Field(primary_key=True, max_length=16)
    location: str = Field(primary_key=True, max_length=40)
    holder: str | None = Field(default=None, max_length=40)
    expires_at: float = 0.0  # the database's clock
    due_at: float = 0.0  # next check, written when a lease is handed back (wall clock)
    state: str | None = Field(default=None, max_length=16)
    latency_ms: float | None = None
    error_class: str | None = Field(default=None, max_length=16)
    checked_at: float | None = None


# Every sealed column, for key rotation: (model, column, fingerprint columns recomputed from it).
SEALED_COLUMNS: list[tuple[type[SQLModel], str]] = [
    (Meta, "value_s"),
    (Target, "name_s"),
    (Target, "spec_s"),
    (Target, "tags_s"),
    (Target, "conditions_s"),
    (Target, "options_s"),
    (Target, "token_s"),
    (Result, "detail_s"),
    (Incident, "acked_by_s"),
    (Incident, "summary_s"),
    (Notification, "acked_by_s"),
    (Notification, "body_s"),
    (Notification, "last_error_s"),
    (Receipt, "reader_s"),
    (Contact, "name_s"),
    (Contact, "address_s"),
    (Contact, "resolved_s"),
    (Contact, "status_detail_s"),
    (MaintenanceWindow, "schedule_s"),
    (MaintenanceWindow, "scope_s"),
    (MaintenanceWindow, "reason_s"),
    (MaintenanceWindow, "created_by_s"),
    (Rule, "name_s"),
    (Rule, "channels_s"),
    (Benchmark, "name_s"),
    (Benchmark, "spec_s"),
    (AuditEntry, "actor_s"),
    (AuditEntry, "detail_s"),
    (Subscriber, "chat_s"),
    (ApiKey, "label_s"),
]


# Fingerprint columns recomputed from a sealed column during rotation: (model, fp column, sealed
# column, purpose). tag_fps is a space-separated list derived from the sealed JSON list of tags.
FINGERPRINTS: list[tuple[type[SQLModel], str, str, str]] = [
    (Target, "name_fp", "name_s", "target.name"),
    (Target, "token_fp", "token_s", "target.token"),
    (Target, "tag_fps", "tags_s", "tag"),
    (Contact, "name_fp", "name_s", "contact.name"),
    (Contact, "address_fp", "address_s", "contact.address"),
    (MaintenanceWindow, "scope_fp", "scope_s", "tag"),
    (Rule, "name_fp", "name_s", "rule.name"),
    (Benchmark, "name_fp", "name_s", "bench.name"),
    (Subscriber, "chat_fp", "chat_s", "chat"),
]


def aad_row(table: str, row: object) -> str:
    """The row part of a sealed value's associated data: the primary key, or a stable stand-in."""
    if table == "results":
        return f"{row.target_id}@{row.ts:.6f}"  # type: ignore[attr-defined]
    if table == "audit":
        return f"{row.ts:.6f}:{row.action}"  # type: ignore[attr-defined]
    if table == "meta":
        return row.key  # type: ignore[attr-defined]
    return row.id  # type: ignore[attr-defined]


class AlertmanagerAlert(SQLModel, table=True):
    """An alert Prometheus' Alertmanager sent us (by its fingerprint, a hash of its labels): the
    labels sealed (they name hosts), the incident it became, and the silence made for it there."""

    __tablename__ = "am_alerts"
    id: str = Field(primary_key=True, max_length=16)
    fingerprint: str = Field(max_length=64, index=True)
    incident_id: str = Field(max_length=16, index=True)
    labels_s: bytes = Field(sa_column=_blob(False))
    silence_id: str | None = Field(default=None, max_length=64)
    silence_until: float | None = None
    silence_error_s: bytes | None = Field(default=None, sa_column=_blob())
    updated_at: float = 0.0


class MaintenanceSpan(SQLModel, table=True):
    """When a target was in maintenance (windows are deleted once over): SLA reports leave these
    spans out of uptime and show them."""

    __tablename__ = "maintenance_spans"
    __table_args__ = (Index("ix_maintenance_spans_target", "target_id", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    target_id: str = Field(max_length=16)
    started_at: float
    ended_at: float | None = None


# Added after the list was written (new tables are created by `migrate`'s create_all).
SEALED_COLUMNS += [(AlertmanagerAlert, "labels_s"), (AlertmanagerAlert, "silence_error_s")]


class LocationRollup(SQLModel, table=True):
    """Hourly counts per location of a target probed from several (written by the engines that
    probe it there): per-location uptime, where `rollups` merge every location."""

    __tablename__ = "location_rollups"
    target_id: str = Field(primary_key=True, max_length=16)
    location: str = Field(primary_key=True, max_length=40)
    hour: int = Field(primary_key=True)  # epoch seconds // 3600
    count: int = 0
    ok_count: int = 0
