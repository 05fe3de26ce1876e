"""The public shape of each entity, as the command layer returns it in every mode.

One pydantic model per entity. Embedded, a command returns these; attached, the client decodes the
daemon's JSON into the command's return annotation (pydantic TypeAdapter), so a screen or a CLI
verb reads the same type either way; `--json` and the HTTP API print `model_dump(mode="json")`.
Field names are the JSON names printed before the models existed: changing one changes the API.

Internal records (engine.core.domain.TargetRecord, used in the engine's hot loop) stay dataclasses;
the model is built at the command boundary. Results also answer `r["field"]` and `r.get(...)` like
the dicts they replace, so callers written against the JSON form read them unchanged.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from engine.core.domain import STATE_SYMBOLS, TargetRecord
from engine.core.spec_secrets import mask_spec


class Result(BaseModel):
    """Base of every result: fields fixed (an unknown one is a bug), read by name or by key."""

    model_config = ConfigDict(extra="forbid")

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default

    def __contains__(self, key: object) -> bool:
        """As for the JSON form: an optional key left out of it (a note that is None) is not in."""
        return isinstance(key, str) and key in self.model_dump()

    def keys(self) -> list[str]:
        return list(type(self).model_fields)

    @classmethod
    def trusted(cls, fields: dict[str, Any]) -> Self:
        """A result from values the command layer built itself from typed records, without
        validation: every field given. model_construct costs ten times more, which 100,000
        targets listed at once would feel."""
        out = cls.__new__(cls)
        object.__setattr__(out, "__dict__", fields)
        object.__setattr__(out, "__pydantic_fields_set__", set(fields))
        object.__setattr__(out, "__pydantic_extra__", None)
        object.__setattr__(out, "__pydantic_private__", None)
        return out


# ---- targets -----------------------------------------------------------------------------------
class Target(Result):
    """A target as `target show --json` prints it (the ping token never leaves: `ping_url` does,
    for a heartbeat only, and only to an authorised caller)."""

    id: str
    name: str
    spec: str
    kind: str
    interval_s: float
    timeout_s: float
    tags: list[str]
    conditions: list[str]
    options: dict[str, Any]
    owner_id: str | None
    parent_id: str | None
    failure_threshold: int | None
    recovery_threshold: int | None
    paused: bool
    declared: bool
    created_at: float
    state: str
    state_since: float
    next_due: float
    last_check_at: float | None
    last_latency_ms: float | None
    last_error_class: str | None
    fail_streak: int
    ok_streak: int
    flapping: bool
    hb_state: str | None
    # Probed from each of these engine locations (several engines); down at `quorum` of them.
    locations: list[str] = Field(default_factory=list)
    quorum: int | None = None
    symbol: str
    ping_url: str | None = None

    @classmethod
    def from_record(cls, rec: TargetRecord, ping_base: str | None = None) -> Target:
        """The public form of an engine record (TargetRecord.public, without its deep copy)."""
        d = {name: getattr(rec, name) for name in _RECORD_FIELDS}
        d["spec"] = mask_spec(rec.spec_text)  # a password shows as *** (engine.core.spec_secrets)
        d["symbol"] = STATE_SYMBOLS.get(rec.state, "?")
        d["ping_url"] = None
        if rec.kind == "heartbeat" and rec.token:
            base = (ping_base or "http://127.0.0.1:8787").rstrip("/")
            d["ping_url"] = f"{base}/ping/{rec.token}"
        return cls.trusted(d)

    @model_serializer(mode="wrap")
    def _drop_absent_ping_url(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`ping_url` exists for heartbeats only, as the JSON always had it."""
        out: dict[str, Any] = handler(self)
        if out.get("ping_url") is None:
            out.pop("ping_url", None)
        return out


_RECORD_FIELDS = tuple(f for f in Target.model_fields if f not in ("spec", "symbol", "ping_url"))


class HeartbeatInfo(Result):
    """What a heartbeat expects and has seen (epoch seconds) and where to ping it."""

    expects: str
    status: str
    detail: str
    last_ping_at: float | None
    last_kind: str | None
    last_exit_status: int | None
    last_duration_s: float | None
    running_since: float | None
    expected_at: float | None
    down_at: float | None
    pings: int
    ping_url: str | None = None
    listening: bool | None = None
    hint: str | None = None
    stored_for_replay: bool | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`heartbeat_info` adds where to ping; an offline ping says it was stored for replay."""
        out: dict[str, Any] = handler(self)
        for key in ("ping_url", "listening", "hint", "stored_for_replay"):
            if key not in self.model_fields_set:
                out.pop(key, None)
        return out


class CheckResult(Result):
    """One probe now (`sysalert check`), or, for a stored target an engine runs, the check it
    queued (`queued` = target id; the outcome arrives as the engine's next result)."""

    kind: str
    queued: str | None = None
    ok: bool | None = None
    latency_ms: float | None = None
    value: float | None = None
    error_class: str | None = None
    detail: str | None = None
    degraded: bool | None = None


# ---- maintenance -------------------------------------------------------------------------------
class Window(Result):
    id: str
    active: bool
    endable: bool
    scope: str
    kind: str
    target: str | None
    tag: str | None
    starts_at: float | None
    ends_at: float | None
    schedule: str | None
    reason: str


class MaintenanceOn(Result):
    windows: list[Window]
    note: str | None = None

    @model_serializer(mode="wrap")
    def _drop_no_note(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("note") is None:
            out.pop("note", None)
        return out


class MaintenanceOff(Result):
    removed: int
    kept: list[Window]
    note: str | None


# ---- incidents ---------------------------------------------------------------------------------
class Reader(Result):
    name: str | None
    read_at: float | None


class NotificationInfo(Result):
    id: str
    channel: str
    kind: str
    level: int
    status: str
    contact: str | None
    sent_at: float | None
    read_at: float | None
    readers: list[Reader]
    attempts: int
    acked_by: str | None
    error: str | None


class AlertmanagerInfo(Result):
    """An incident from Prometheus' Alertmanager: its alert's labels and the silence made there."""

    fingerprint: str
    labels: dict[str, str]
    silence_id: str | None
    silence_until: float | None
    silence_error: str | None


class Incident(Result):
    id: str
    state: str
    kind: str
    severity: str
    target: str | None
    target_id: str | None
    opened_at: float
    acked_at: float | None
    acked_by: str | None
    resolved_at: float | None
    silenced_until: float | None
    summary: str
    error_class: str | None
    escalation_level: int
    held_under: str | None
    notifications: list[NotificationInfo]
    alertmanager: AlertmanagerInfo | None = None  # only on an Alertmanager alert's incident

    @model_serializer(mode="wrap")
    def _drop_no_alertmanager(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("alertmanager") is None:
            out.pop("alertmanager", None)
        return out


# ---- contacts, rules, benchmarks, subscribers --------------------------------------------------
class Contact(Result):
    id: str
    name: str
    channel: str
    address: str
    level: int
    owner_id: str | None
    status: str
    status_detail: str | None


class Rule(Result):
    id: str
    name: str
    metric: str
    comparison: str
    threshold: float
    duration_s: float
    severity: str
    channels: list[str]
    target: str | None
    enabled: bool
    declared: bool


class Benchmark(Result):
    id: str
    name: str
    spec: str
    kind: str
    interval_s: float
    baseline: float | None
    threshold_pct: float
    higher_is_better: bool
    last_score: float | None
    last_run_at: float | None
    owner_id: str | None
    created_at: float
    unit: str
    score: float | None
    delta_pct: float | None
    status: str
    trend: list[float | None]
    measures: str
    ref: str


class Subscriber(Result):
    id: str
    chat: str
    role: str
    max_targets: int | None
    max_benchmarks: int | None
    created_at: float
    last_seen_at: float | None
    usage: dict[str, int] | None = None
    quota: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`subscribers list` adds use and limits; `add` answers the row alone."""
        out: dict[str, Any] = handler(self)
        for key in ("usage", "quota"):
            if key not in self.model_fields_set:
                out.pop(key, None)
        return out


# ---- SLA reports -------------------------------------------------------------------------------
class Span(Result):
    start: float
    end: float


class TargetSla(Result):
    """One target's figures over the period (engine.store.report says how each is found)."""

    target: str
    id: str
    kind: str
    uptime_pct: float | None
    checks: int
    failed_checks: int
    downtime_s: float
    incidents: int
    acknowledged: int
    mtta_s: float | None
    mttr_s: float | None
    maintenance_s: float
    maintenance: list[Span]


class SlaReport(Result):
    start: float
    end: float
    period: str
    timezone: str
    targets: list[TargetSla]


# ---- several engines on one store --------------------------------------------------------------
class EngineInfo(Result):
    """One engine sharing a PostgreSQL store (`sysalert engines`). Times are the database's clock,
    so `last_seen_ago_s` reads the same whichever host asks."""

    id: str
    location: str
    started_at: float
    last_seen: float
    last_seen_ago_s: float
    targets_held: int
    alive: bool
    leader: bool
    stopped: bool
    this: bool = False  # the engine that answered (the console's embedded or attached one)


class LocationResult(Result):
    """A multi-location target seen from one location: its latest result there, and who probes it.
    `state` is `no-engine` when no engine holds its lease there now (never counted as up)."""

    location: str
    state: str | None
    latency_ms: float | None
    error_class: str | None
    checked_at: float | None
    engine: str | None
    engines_alive: int = 0  # engines alive in this location now
    uptime: float | None = None  # percent over the window, when known (None: not measured)
