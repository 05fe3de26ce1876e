"""Settings: the TOML config file, then SYSALERT_* environment variables over it, validated and
typed. Every error names where the value came from (`file:line`, or the environment variable),
the key, the value (never a secret's) and the fix.

Any key can come from the environment through pydantic-settings: the prefix SYSALERT_ and `__`
between section and key, e.g. SYSALERT_SMTP__PASSWORD, SYSALERT_ALERTS__WEBHOOK_SECRET,
SYSALERT_ENGINE__CONCURRENCY=800, SYSALERT_API__API_KEYS='["k1", "k2"]' (lists and tables as
JSON). The environment wins over the file. The older variables keep working as before:
SYSALERT_DATA_DIR, SYSALERT_CONFIG, SYSALERT_DATABASE_URL, TELEGRAM_API_ID, TELEGRAM_API_HASH.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as _SettingsError

from engine.config.checks import (
    ENV_DATABASE_URL,
    check_database_url,
    config_where,
    is_default_place,
    parse_toml,
    read_text,
)
from engine.config.declared import RuleDecl, TargetDecl
from engine.config.locate import locate
from engine.config.sections import (
    AlertSettings,
    ApiSettings,
    EngineSettings,
    GeneralSettings,
    QuotaSettings,
    RetentionSettings,
    SmtpSettings,
    TelegramSettings,
    WatchdogSettings,
)
from engine.core.errors import BadInput, ConfigError
from engine.security.privacy import redact

__all__ = [
    "ENV_CONFIG",
    "ENV_DATA_DIR",
    "ENV_PREFIX",
    "Settings",
    "TargetDecl",
    "RuleDecl",
    "TelegramSettings",
    "config_where",
    "explain",
    "load_settings",
]

ENV_CONFIG = "SYSALERT_CONFIG"
ENV_DATA_DIR = "SYSALERT_DATA_DIR"
ENV_PREFIX = "SYSALERT_"
ENV_DELIMITER = "__"


class Settings(BaseSettings):
    """The whole configuration. `Settings()` is the defaults: the environment is read by
    `load_settings` (with the mapping it is given), never implicitly by constructing one."""

    model_config = SettingsConfigDict(
        extra="forbid",
        validate_assignment=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

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
    def socket_path(self) -> Path:
        return (
            Path(self.api.socket).expanduser()
            if self.api.socket
            else self.data_dir / "sysalert.sock"
        )


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own; the
    process's environment otherwise), case-insensitive like the default."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._given = {k.lower(): v for k, v in env.items()}
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._given


def environment_values(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the SYSALERT_* variables give, nested like the file's tables."""
    try:
        values = _Environment(env)()
    except _SettingsError as exc:
        # pydantic-settings names the field; the variables that set it are what the user wrote.
        field = re.search(r'field "(\w+)"', str(exc))
        stem = ENV_PREFIX + (field.group(1).upper() if field else "")
        names = sorted(k for k in env if k.upper() == stem or k.upper().startswith(stem + "__"))
        raise ConfigError(
            f"environment {', '.join(names) or stem}: the value is not JSON, and a list or a "
            "table in one variable must be",
            "write JSON, e.g. SYSALERT_API__API_KEYS='[\"k1\"]', or set one key per variable, "
            "e.g. SYSALERT_SMTP__PORT=25",
        ) from None
    values.pop("config_path", None)  # resolved at load time, never read
    return values


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, tables merged key by key (a section half in the file, half in the
    environment), anything else replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _from_environment(values: Mapping[str, Any], loc: tuple[str | int, ...]) -> bool:
    """Whether the value at `loc` came from the environment."""
    node: Any = values
    for part in loc:
        inside = (
            0 <= part < len(node)
            if isinstance(node, list) and isinstance(part, int)
            else isinstance(node, Mapping) and part in node
        )
        if not inside:
            return False
        node = node[part]
    return True


def env_var(loc: tuple[str | int, ...]) -> str:
    """The variable that sets a key: ("smtp", "password") -> SYSALERT_SMTP__PASSWORD."""
    names = [str(p).upper() for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + ENV_DELIMITER.join(names)


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


def _format_error(
    path: Path, text: str, err: Mapping[str, Any], env: Mapping[str, Any] | None = None
) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    if env and _from_environment(env, loc):
        where = f"environment {env_var(loc)}"
    else:
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
    path: Path | str,
    text: str,
    exc: ValidationError,
    at: tuple[str | int, ...] = (),
    env: Mapping[str, Any] | None = None,
) -> ConfigError:
    """A validation failure as one config error: `file:line: key = value: why`, the first in the
    message and the next few in the hint. `at` places a part validated alone (an imported
    [[targets]] entry) in the file; `env` holds the values the environment gave, named by their
    variable instead of a line."""
    errors = [
        _format_error(Path(path), text, {**e, "loc": (*at, *e["loc"])}, env) for e in exc.errors()
    ]
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
    check_target: Callable[[Settings, TargetDecl], object] | None = None,
) -> Settings:
    """Read and validate the config, every [[targets]] entry as `target add` would check it, with
    the SYSALERT_* variables of `env` (default: the process's) over the file's values.

    No file at the default place (`<data dir>/config.toml`) means defaults: a fresh machine runs
    before `sysalert init`. A file named elsewhere (--config, SYSALERT_CONFIG) must exist, or a
    typo would silently run on defaults; `creating` (for `sysalert init`) lets it be absent.

    `check_target(settings, entry)` builds a [[targets]] entry as `target add` would and raises
    BadInput for what add refuses: the command layer's builder (engine.commands.targets.
    check_declared), handed in by the caller because config sits below the command layer. The
    CLI, the console and the daemon pass it; without it the entries are checked field by field
    only, and the engine's reconcile refuses the rest at start."""
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
    from_env = environment_values(env)
    try:
        settings = Settings.model_validate(_merge(raw, from_env))
    except ValidationError as exc:
        raise explain(path, text, exc, env=from_env) from None
    settings.config_path = path
    if data_dir is not None or env.get(ENV_DATA_DIR) or not settings.general.data_dir:
        settings.general.data_dir = str(ddir)
    if env.get(ENV_DATABASE_URL):
        settings.general.database_url = env[ENV_DATABASE_URL]
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
    if check_target is not None:
        _check_targets_whole(settings, path, text, check_target)
    return settings


def _check_targets_whole(
    settings: Settings,
    path: Path,
    text: str,
    check_target: Callable[[Settings, TargetDecl], object],
) -> None:
    """Each [[targets]] entry built as `target add` builds it (defaults from [engine] applied), so
    what add refuses (an interval too short, a heartbeat without a period...) stops the load here
    and not the engine later. depends_on is resolved against the store when the engine starts."""
    if not settings.targets:
        return
    fields = set(TargetDecl.model_fields)
    for i, decl in enumerate(settings.targets):
        try:
            check_target(settings, decl)
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
