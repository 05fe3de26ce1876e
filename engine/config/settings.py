"""TOML config -> validated, typed settings. Every error names file, line, key, value and the fix."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.config.checks import (
    ENV_DATABASE_URL,
    check_database_url,
    config_where,
    is_default_place,
    parse_toml,
    read_text,
)
from engine.config.locate import locate
from engine.core.durations import parse_duration
from engine.core.errors import BadInput, ConfigError
from engine.core.limits import (
    DURATION_MAX,
    INTERVAL,
    LIMIT_CONCURRENCY,
    MAX_BODY,
    RULE_FOR,
    TIMEOUT,
)
from engine.security.privacy import redact

ENV_CONFIG = "SYSALERT_CONFIG"
ENV_DATA_DIR = "SYSALERT_DATA_DIR"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# The ranges of engine.core.limits for the durations that have one; others are 0 to DURATION_MAX.
_DURATION_BOUNDS = {
    "default_interval": INTERVAL,
    "interval": INTERVAL,
    "default_timeout": TIMEOUT,
    "timeout": TIMEOUT,
    "duration": RULE_FOR,
}


def _dur(v: Any, info: Any) -> float:
    bounds = _DURATION_BOUNDS.get(info.field_name, (0.0, DURATION_MAX))
    try:
        return parse_duration(v, info.field_name, bounds)
    except BadInput as exc:
        raise ValueError(f"{exc.message}; {exc.hint}") from None


class GeneralSettings(_Section):
    data_dir: str = ""
    database_url: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    profile: Literal["self-hosted", "hosted"] = "self-hosted"
    location: str = "default"
    timezone: str = "UTC"


class EngineSettings(_Section):
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

    _d = field_validator("default_interval", "default_timeout", "lease", mode="before")(_dur)

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        from engine.core.locations import check_location

        return v and str(_as_value_error(check_location, v))


class RetentionSettings(_Section):
    raw_days: int = Field(7, ge=1)
    rollup_days: int = Field(90, ge=1)
    history_days: int = Field(365, ge=1)
    housekeeping_interval: float = 600.0

    _d = field_validator("housekeeping_interval", mode="before")(_dur)


class ApiSettings(_Section):
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


class AlertSettings(_Section):
    resend_interval: float = 1800.0
    escalation_after: float = 600.0
    webhook_secret: SecretStr = SecretStr("")
    channel_rate_per_minute: int = Field(30, ge=1)
    max_attempts: int = Field(8, ge=1, le=100)

    _d = field_validator("resend_interval", "escalation_after", mode="before")(_dur)


class SmtpSettings(_Section):
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    from_addr: str = "sysalert@localhost"
    starttls: bool = True
    ssl: bool = False
    timeout: float = 10.0


class TelegramSettings(_Section):
    api_id: int | None = None
    api_hash: SecretStr | None = None
    server: str = ""
    dc_id: int | None = None
    public_key_file: str = ""
    admins: list[int] = Field(default_factory=list)
    ack_on_reaction: bool = False
    commands_per_minute: int = Field(20, ge=1)


class WatchdogSettings(_Section):
    """An outside monitor this daemon pings while healthy (Healthchecks-compatible ping URL)."""

    url: SecretStr = SecretStr("")  # its token is a secret: never logged, never shown
    every: float = 60.0
    timeout: float = 10.0

    _d = field_validator("every", "timeout", mode="before")(_dur)

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


class QuotaSettings(_Section):
    max_targets: int = Field(0, ge=0)
    max_benchmarks: int = Field(0, ge=0)


class TargetDecl(_Section):
    spec: str
    name: str = ""
    interval: float | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    depends_on: str = ""
    failure_threshold: int | None = None
    recovery_threshold: int | None = None
    locations: list[str] = Field(default_factory=list)
    quorum: int | None = None

    @field_validator("locations")
    @classmethod
    def _locations(cls, v: list[str]) -> list[str]:
        from engine.core.locations import check_locations

        return list(_as_value_error(check_locations, v))

    @field_validator("quorum")
    @classmethod
    def _quorum(cls, v: int | None, info: Any) -> int | None:
        from engine.core.locations import check_quorum

        return _as_value_error(check_quorum, v, info.data.get("locations") or [])

    @field_validator("interval", "timeout", mode="before")
    @classmethod
    def _durations(cls, v: Any, info: Any) -> float | None:
        return None if v is None else _dur(v, info)

    @field_validator("spec")
    @classmethod
    def _spec(cls, v: str) -> str:
        from engine.checks.specs import parse_spec

        _as_value_error(parse_spec, v)
        return v

    # Each field is checked by the rule `target add` uses, so the error points at its own line.
    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        from engine.commands.base import check_name

        return v and _as_value_error(check_name, v, "target")

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, v: list[str]) -> list[str]:
        from engine.commands.targets import validate_conditions

        return _as_value_error(validate_conditions, v)

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        from engine.checks.options import check_options
        from engine.checks.specs import parse_spec

        spec = info.data.get("spec")
        if spec is not None:  # a bad spec has its own error already
            _as_value_error(check_options, parse_spec(spec).kind, v)
        return v

    @field_validator("failure_threshold", "recovery_threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any, info: Any) -> int | None:
        from engine.commands.targets import check_threshold

        return _as_value_error(check_threshold, v, info.field_name)

    @field_validator("depends_on")
    @classmethod
    def _parent(cls, v: str, info: Any) -> str:
        if v and v == info.data.get("name"):
            raise ValueError("a target cannot depend on itself; name another target")
        return v


def _as_value_error(check: Any, *args: Any) -> Any:
    """Run one of the command layer's checks; its BadInput becomes pydantic's ValueError (first
    line only: a condition's caret drawing does not fit a `file:line: key = value: why` line).
    A daemon's stderr is a log (the journal), so an address in the message is redacted."""
    try:
        return check(*args)
    except BadInput as exc:
        first = redact(exc.message.splitlines()[0])
        raise ValueError(f"{first}; {exc.hint}" if exc.hint else first) from None


class RuleDecl(_Section):
    name: str
    metric: str
    comparison: Literal[">", "<", ">=", "<=", "==", "!="]
    threshold: float
    duration: float = 0.0
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    channels: list[str] = Field(default_factory=list)
    target: str = ""
    enabled: bool = True

    _d = field_validator("duration", mode="before")(_dur)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        from engine.alerting.rules import METRICS

        if v not in METRICS:
            raise ValueError(f"unknown metric; use one of {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _whole(self) -> RuleDecl:
        """The rule as the engine will build it: a bad one fails at load, not every tick."""
        from engine.alerting.rules import RuleSpec

        _as_value_error(
            RuleSpec,
            "",
            self.name,
            self.metric,
            self.comparison,
            self.threshold,
            self.duration,
            self.severity,
            list(self.channels),
            self.target,
            self.enabled,
        )
        return self


class Settings(_Section):
    general: GeneralSettings = Field(default_factory=GeneralSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    watchdog: WatchdogSettings = Field(default_factory=WatchdogSettings)
    targets: list[TargetDecl] = Field(default_factory=list)
    rules: list[RuleDecl] = Field(default_factory=list)

    # Resolved at load time, not read from the file.
    config_path: Path | None = Field(default=None, exclude=True)

    @property
    def data_dir(self) -> Path:
        return Path(self.general.data_dir).expanduser()

    @property
    def database_url(self) -> str:
        return self.general.database_url or f"sqlite:///{self.data_dir / 'sysalert.db'}"

    @property
    def location(self) -> str:
        """Where this engine probes from: [engine] location, else [general] location."""
        return self.engine.location or self.general.location or "default"

    @property
    def socket_path(self) -> Path:
        return (
            Path(self.api.socket).expanduser()
            if self.api.socket
            else self.data_dir / "sysalert.sock"
        )


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_DATA_DIR):
        return Path(env[ENV_DATA_DIR]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sysalert"


def default_config_path(data_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env[ENV_CONFIG]).expanduser() if env.get(ENV_CONFIG) else data_dir / "config.toml"


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [k for k in model.model_fields if k != "config_path"]


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        nxt = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if nxt is None:
            return None
        model = nxt
    return model


def _format_error(path: Path, text: str, err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    line = locate(text, loc)
    where = f"{path}:{line}" if line else str(path)
    if err["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        options = _known_keys(parent) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), options, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys here: {', '.join(options)}"
        return f"{where}: unknown key {key!r}; {hint}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) or _is_secret(loc) else f" = {value!r}"
    if isinstance(value, str | list):  # a spec or a condition may name a host: not for a log
        shown = redact(shown)
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {key}{shown}: {msg}"


def explain(
    path: Path | str, text: str, exc: ValidationError, at: tuple[str | int, ...] = ()
) -> ConfigError:
    """A validation failure as one config error: `file:line: key = value: why`, the first in the
    message and the next few in the hint. `at` places a part validated alone (an imported
    [[targets]] entry) in the file."""
    errors = [_format_error(Path(path), text, {**e, "loc": (*at, *e["loc"])}) for e in exc.errors()]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ConfigError(errors[0] + more, "; ".join(errors[1:4]) or None)


def _is_secret(loc: tuple[Any, ...]) -> bool:
    """A secret's value (a password, a watchdog URL with its token) is never echoed back."""
    parent = _model_at(loc[:-1]) if loc else None
    field = parent.model_fields.get(str(loc[-1])) if parent else None
    return field is not None and "SecretStr" in str(field.annotation)


def load_settings(
    config_path: Path | None = None,
    data_dir: Path | None = None,
    env: dict[str, str] | None = None,
    required: bool = False,
    creating: bool = False,
) -> Settings:
    """Read and validate the config, every [[targets]] entry as `target add` would check it.

    No file at the default place (`<data dir>/config.toml`) means defaults: a fresh machine runs
    before `sysalert init`. A file named elsewhere (--config, SYSALERT_CONFIG) must exist, or a
    typo would silently run on defaults; `creating` (for `sysalert init`) lets it be absent."""
    env = dict(os.environ if env is None else env)
    ddir = data_dir or default_data_dir(env)
    path = config_path or default_config_path(ddir, env)
    raw: dict[str, Any] = {}
    text = ""
    if path.exists():
        text = read_text(path)
        raw = parse_toml(text, path)
    elif not creating and (required or not is_default_place(path, ddir)):
        raise ConfigError(
            f"config file {path} does not exist",
            "create it with `sysalert init`, or fix --config / SYSALERT_CONFIG",
        )
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise explain(path, text, exc) from None
    settings.config_path = path
    if data_dir is not None or env.get(ENV_DATA_DIR) or not settings.general.data_dir:
        settings.general.data_dir = str(ddir)
    if env.get(ENV_DATABASE_URL):
        settings.general.database_url = env[ENV_DATABASE_URL]
    for var, key in (("SYSALERT_LOCATION", "location"), ("SYSALERT_ENGINE_ID", "id")):
        if env.get(var):
            try:
                setattr(settings.engine, key, env[var])
            except ValidationError as exc:
                raise BadInput(
                    f"{var}={env[var]!r}: {exc.errors()[0]['msg']}",
                    "use letters, digits, '-' or '_', e.g. fra",
                ) from None
    if env.get("TELEGRAM_API_ID"):
        try:
            settings.telegram.api_id = int(env["TELEGRAM_API_ID"])
        except ValueError:
            raise ConfigError(
                "TELEGRAM_API_ID is not a number", "copy it from my.telegram.org"
            ) from None
    if env.get("TELEGRAM_API_HASH"):
        settings.telegram.api_hash = SecretStr(env["TELEGRAM_API_HASH"])
    check_database_url(settings.general.database_url, path, text, env)
    _check_unique_names(settings, path, text)
    _check_targets_whole(settings, path, text)
    return settings


def _check_targets_whole(settings: Settings, path: Path, text: str) -> None:
    """Each [[targets]] entry built as `target add` builds it (defaults from [engine] applied), so
    what add refuses (an interval too short, a heartbeat without a period...) stops the load here
    and not the engine later. depends_on is resolved against the store when the engine starts."""
    if not settings.targets:
        return
    from engine.commands.targets import check_declared

    fields = set(TargetDecl.model_fields)
    for i, decl in enumerate(settings.targets):
        try:
            check_declared(settings, decl)
        except BadInput as exc:
            first = redact(exc.message.splitlines()[0])
            word = first.split(" ", 1)[0]
            loc: tuple[str | int, ...] = ("targets", i, word) if word in fields else ("targets", i)
            raise ConfigError(
                f"{config_where(path, text, loc)}: targets[{i}]: {first}", exc.hint
            ) from None


def _check_unique_names(settings: Settings, path: Path, text: str) -> None:
    seen: dict[str, int] = {}
    for i, t in enumerate(settings.targets):
        if not t.name:
            continue
        if t.name in seen:
            line = locate(text, ("targets", i, "name"))
            raise ConfigError(
                f"{path}:{line}: targets[{i}].name = {t.name!r} is already used by targets[{seen[t.name]}]",
                "give every declared target its own name",
            )
        seen[t.name] = i
    rules: dict[str, int] = {}
    for i, r in enumerate(settings.rules):
        if r.name in rules:  # a rule's name is its identity (incident dedup key)
            line = locate(text, ("rules", i, "name"))
            raise ConfigError(
                f"{path}:{line}: rules[{i}].name = {r.name!r} is already used by rules[{rules[r.name]}]",
                "give every rule its own name",
            )
        rules[r.name] = i
