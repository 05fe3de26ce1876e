"""Specs of the service kinds (issue 19): postgres://, mysql://, redis://, mqtt://, amqp://, nats://,
smtp://, ssh://, udp://, systemd://, docker://.

Parsed here and not in specs.py so the common grammar stays short there: the same host and port
rules, the same one-line errors, and each kind's options allowed in the query string
(`?query=SELECT 1`) or as `--option` (engine/checks/options.py holds their types). The whole URL,
credentials included, is kept in `url` for the probe; it is sealed in the store like every spec
and shown masked (engine/core/spec_secrets.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import SplitResult, unquote

from engine.checks.specs import (
    check_host,
    check_numbers,
    check_port,
    query_params,
    spec_error,
    split_host_port,
)
from engine.core.limits import TLS_MIN_DAYS
from engine.core.spec import TargetSpec

# scheme -> kind; the TLS variants are the same kind (the probe reads the scheme)
SCHEMES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "mqtt": "mqtt",
    "mqtts": "mqtt",
    "amqp": "amqp",
    "amqps": "amqp",
    "nats": "nats",
    "smtp": "smtp",
    "smtps": "smtp",
    "ssh": "ssh",
    "udp": "udp",
    "systemd": "systemd",
    "docker": "docker",
}
SERVICE_KINDS = tuple(dict.fromkeys(SCHEMES.values()))
TLS_SCHEMES = frozenset({"rediss", "mqtts", "amqps", "smtps"})
DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "rediss": 6379,
    "mqtt": 1883,
    "mqtts": 8883,
    "amqp": 5672,
    "amqps": 5671,
    "nats": 4222,
    "smtp": 25,
    "smtps": 465,
    "ssh": 22,
}
# Query keys each kind takes (the same names work as --option KEY=VALUE).
PARAMS: dict[str, set[str]] = {
    "postgres": {"query", "sslmode", "max_replication_lag_s", "in_recovery"},
    "mysql": {"query", "ssl", "max_replication_lag_s"},
    "redis": {"info"},
    "mqtt": {"topic"},
    "amqp": {"queue"},
    "nats": {"subject", "payload", "expect"},
    "smtp": {"starttls", "min_days", "verify_tls"},
    "ssh": {"fingerprint"},
    "udp": {"send", "expect"},
    "systemd": {"max_restarts"},
    "docker": {"socket", "max_restarts"},
}
EXAMPLES = {
    "postgres": "postgres://user:pass@db.internal:5432/app?query=SELECT 1",
    "mysql": "mysql://user:pass@db.internal:3306/app",
    "redis": "redis://:pass@cache.internal:6379/0?info=role,connected_clients",
    "mqtt": "mqtt://user:pass@broker.internal:1883?topic=sysalert/probe",
    "amqp": "amqp://user:pass@mq.internal:5672/vhost?queue=jobs",
    "nats": "nats://nats.internal:4222?subject=svc.ping",
    "smtp": "smtp://mail.internal:25?starttls=true",
    "ssh": "ssh://host.internal:22?fingerprint=SHA256:...",
    "udp": "udp://host.internal:9999?send=ping&expect=pong",
    "systemd": "systemd://nginx.service",
    "docker": "docker://my-container",
}
_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]{1,256}")
_CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_TRUE_FALSE = {"true", "false", "yes", "no", "on", "off", "1", "0"}
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def _flag(raw: str, params: dict[str, str], key: str) -> None:
    if key in params and params[key].strip().lower() not in _TRUE_FALSE:
        raise spec_error(raw, f"{key}={params[key]!r} is not true or false", f"e.g. {key}=true")


def parse_service(
    raw: str,
    scheme: str,
    parts: SplitResult,
    check_range: Callable[[str, dict[str, str], str, tuple[float, float]], None],
) -> TargetSpec:
    """One of the service kinds, or BadInput saying what is wrong and showing this kind's form."""
    kind = SCHEMES[scheme]
    params = query_params(raw, parts.query, PARAMS[kind])
    check_numbers(raw, params, ("max_replication_lag_s", "min_days", "max_restarts"))
    for key in ("in_recovery", "starttls", "verify_tls", "ssl"):
        _flag(raw, params, key)
    check_range(raw, params, "min_days", TLS_MIN_DAYS)
    check_range(raw, params, "max_replication_lag_s", (0, 366 * 86400))
    check_range(raw, params, "max_restarts", (0, 1_000_000))
    if kind == "systemd":
        unit = unquote(parts.netloc + parts.path)
        if not _UNIT.fullmatch(unit):
            raise spec_error(raw, "no unit name", f"write {EXAMPLES['systemd']}")
        if "." not in unit:
            unit += ".service"
        return TargetSpec(kind, raw, unit, params=params)
    if kind == "docker":
        name = unquote(parts.netloc + parts.path).strip("/")
        if not _CONTAINER.fullmatch(name):
            raise spec_error(raw, "no container name or id", f"write {EXAMPLES['docker']}")
        if "socket" in params and not params["socket"].startswith("/"):
            raise spec_error(
                raw, "socket= must be an absolute path", "e.g. socket=/run/docker.sock"
            )
        return TargetSpec(kind, raw, name, params=params)
    host, port = split_host_port(raw, parts.netloc.rsplit("@", 1)[-1])
    if not host:
        raise spec_error(raw, "no host", f"write the host after `://`, e.g. {EXAMPLES[kind]}")
    host = check_host(raw, host)
    number = check_port(raw, port, kind == "udp", DEFAULT_PORTS.get(scheme))
    if kind == "udp" and not params.get("send"):
        raise spec_error(raw, "nothing to send", "add ?send=TEXT (and &expect=TEXT for the answer)")
    if kind == "postgres" and params.get("sslmode", "prefer") not in _SSLMODES:
        raise spec_error(raw, f"sslmode={params['sslmode']!r} is unknown", "e.g. sslmode=require")
    if kind == "redis":
        db = parts.path.strip("/")
        if db and not (db.isdecimal() and int(db) <= 1_000_000):
            raise spec_error(raw, f"redis database {db!r} is not a number", "e.g. redis://host/0")
    if kind == "ssh" and "fingerprint" in params and ":" not in params["fingerprint"]:
        raise spec_error(
            raw, "fingerprint= must name its hash", "copy it from ssh-keygen -lf: SHA256:..."
        )
    if parts.path.strip("/") and kind in ("mqtt", "nats", "smtp", "ssh", "udp"):
        raise spec_error(raw, f"{kind} takes no path", f"write {EXAMPLES[kind]}")
    return TargetSpec(kind, raw, host, number, url=raw, params=params)


def uses_tls(spec: TargetSpec) -> bool:
    """rediss://, mqtts://, amqps://, smtps://: TLS from the first byte."""
    return spec.raw.split("://", 1)[0].lower() in TLS_SCHEMES
