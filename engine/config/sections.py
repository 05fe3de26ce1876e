"""The sections of the config file ([general], [engine], [api], [smtp] ...), each a strict model:
an unknown key or a value out of range is an error naming it (engine.config.settings formats it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from engine.core.durations import parse_duration
from engine.core.errors import BadInput
from engine.core.limits import (
    DURATION_MAX,
    INTERVAL,
    LIMIT_CONCURRENCY,
    MAX_BODY,
    RULE_FOR,
    TIMEOUT,
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# The ranges of engine.core.limits for the durations that have one; others are 0 to DURATION_MAX.
_DURATION_BOUNDS = {
    "default_interval": INTERVAL,
    "interval": INTERVAL,
    "default_timeout": TIMEOUT,
    "timeout": TIMEOUT,
    "duration": RULE_FOR,
}


def dur(v: Any, info: Any) -> float:
    bounds = _DURATION_BOUNDS.get(info.field_name, (0.0, DURATION_MAX))
    try:
        return parse_duration(v, info.field_name, bounds)
    except BadInput as exc:
        raise ValueError(f"{exc.message}; {exc.hint}") from None


class GeneralSettings(Section):
    data_dir: str = ""
    database_url: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    profile: Literal["self-hosted", "hosted"] = "self-hosted"
    location: str = "default"
    timezone: str = "UTC"


class EngineSettings(Section):
    concurrency: int = Field(500, ge=1, le=100_000)
    default_interval: float = 30.0
    default_timeout: float = 5.0
    failure_threshold: int = Field(2, ge=1, le=100)
    recovery_threshold: int = Field(1, ge=1, le=100)
    retries: int = Field(0, ge=0, le=10)
    flap_window: int = Field(20, ge=4, le=200)
    flap_threshold: float = Field(0.5, gt=0, le=1)
    result_batch_ms: int = Field(50, ge=1, le=5000)
    seed_local_targets: bool = True
    # Several engines on one PostgreSQL: this engine's location (SYSALERT_LOCATION; empty: the
    # [general] location), its id (SYSALERT_ENGINE_ID; empty: made from the host name and the
    # data directory) and how long a target's lease lasts unrenewed (failover time).
    location: str = ""
    id: str = Field("", max_length=40, pattern=r"^[A-Za-z0-9_.-]*$")
    lease: float = Field(5.0, ge=2.0, le=300.0)
    # An engine not seen for this long leaves `sysalert engines` (the leader's housekeeping
    # forgets it); until then a dead one stays listed as dead, so operators see it.
    forget_after: float = Field(7 * 86400.0, ge=1.0, le=366 * 86400.0)

    _d = field_validator(
        "default_interval", "default_timeout", "lease", "forget_after", mode="before"
    )(dur)

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        from engine.core.locations import check_location

        try:
            return v and check_location(v)
        except BadInput as exc:
            raise ValueError(f"{exc.message}; {exc.hint}") from None


class RetentionSettings(Section):
    raw_days: int = Field(7, ge=1)
    rollup_days: int = Field(90, ge=1)
    history_days: int = Field(365, ge=1)
    housekeeping_interval: float = 600.0

    _d = field_validator("housekeeping_interval", mode="before")(dur)


class ApiSettings(Section):
    listen: str = ""
    socket: str = ""
    public_url: str = ""
    api_keys: list[SecretStr] = Field(default_factory=list)
    # Largest JSON request body, in bytes (read in pieces; larger ones get 413 unread).
    max_body: int = Field(MAX_BODY, ge=1024, le=64 * 1024 * 1024)
    # Connections and requests a listener serves at once before answering 503 (pings excepted).
    limit_concurrency: int = Field(LIMIT_CONCURRENCY, ge=10, le=1_000_000)
    tls_cert: str = ""
    tls_key: str = ""

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiSettings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together; set both (PEM files) or neither")
        return self


class AlertSettings(Section):
    resend_interval: float = 1800.0
    escalation_after: float = 600.0
    webhook_secret: SecretStr = SecretStr("")
    channel_rate_per_minute: int = Field(30, ge=1)
    max_attempts: int = Field(8, ge=1, le=100)

    _d = field_validator("resend_interval", "escalation_after", mode="before")(dur)


class SmtpSettings(Section):
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    from_addr: str = "sysalert@localhost"
    starttls: bool = True
    ssl: bool = False
    timeout: float = 10.0


class TelegramSettings(Section):
    api_id: int | None = None
    api_hash: SecretStr | None = None
    server: str = ""
    dc_id: int | None = None
    public_key_file: str = ""
    admins: list[int] = Field(default_factory=list)
    ack_on_reaction: bool = False
    commands_per_minute: int = Field(20, ge=1)


class WatchdogSettings(Section):
    """An outside monitor this daemon pings while healthy (Healthchecks-compatible ping URL)."""

    url: SecretStr = SecretStr("")  # its token is a secret: never logged, never shown
    every: float = 60.0
    timeout: float = 10.0

    _d = field_validator("every", "timeout", mode="before")(dur)

    @field_validator("url")
    @classmethod
    def _url(cls, v: SecretStr) -> SecretStr:
        from urllib.parse import urlsplit

        raw = v.get_secret_value().strip()
        if not raw:
            return SecretStr("")
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "watchdog.url must be an http:// or https:// ping URL, for example "
                "https://hc-ping.com/<uuid> or http://other-sysalert:8080/ping/<token>"
            )
        return SecretStr(raw)

    @field_validator("every")
    @classmethod
    def _every(cls, v: float) -> float:
        if v < 1:
            raise ValueError('watchdog.every must be at least 1s (for example "1m")')
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: float) -> float:
        if not 0 < v <= 60:
            raise ValueError('watchdog.timeout must be between 1s and 60s (for example "10s")')
        return v


class QuotaSettings(Section):
    max_targets: int = Field(0, ge=0)
    max_benchmarks: int = Field(0, ge=0)
