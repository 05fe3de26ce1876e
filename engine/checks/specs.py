"""Target specs as users type them: tcp://host:port, https://..., cmd:/path, heartbeat://name?every=5m.

parse_spec() is the one parser the CLI, the config loader, the add-target form, the HTTP API and the
Telegram `/addtarget` command share, so every one of them gives the same error text.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from urllib.parse import parse_qsl, urlsplit

from engine.core.domain import use_spec_parser
from engine.core.durations import parse_duration
from engine.core.errors import BadInput
from engine.core.limits import (
    DURATION_MAX,
    ICMP_COUNT,
    SYSTEM_LOAD,
    SYSTEM_PERCENT,
    TLS_MIN_DAYS,
)
from engine.core.spec import DURATION_BOUNDS, TargetSpec

KINDS = ("tcp", "http", "icmp", "dns", "tls", "command", "heartbeat", "system")
DNS_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR", "SRV", "CAA")
SYSTEM_METRICS = ("cpu", "memory", "disk", "load", "swap")
EXAMPLES = (
    "tcp://host:port, https://example.org/health, icmp://host, dns://name?type=A&expect=1.2.3.4, "
    "tls://host:443?min_days=14, cmd:/path/to/check, heartbeat://name?every=5m&grace=1m, "
    "system://cpu?max=90"
)
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$"
)


def _bad(raw: str, what: str, fix: str) -> BadInput:
    return BadInput(f"target spec {raw!r}: {what}", fix)


def _check_host(raw: str, host: str | None) -> str:
    if not host:
        raise _bad(raw, "no host", "write the host after `://`, e.g. tcp://db.internal:5432")
    h = host.strip("[]")
    try:
        ipaddress.ip_address(h)
        return h
    except ValueError:
        pass
    if not _HOST_RE.match(h):
        raise _bad(
            raw,
            f"{host!r} is not a valid host name or IP address",
            "use letters, digits, dots and dashes",
        )
    return h


def _check_port(
    raw: str, port_text: str | None, required: bool, default: int | None = None
) -> int | None:
    if port_text in (None, ""):
        if required:
            raise _bad(raw, "no port", "add `:PORT` after the host, e.g. tcp://10.0.0.5:22")
        return default
    if not str(port_text).isdigit() or not 1 <= int(port_text) <= 65535:
        raise _bad(raw, f"port {port_text!r} is not a number from 1 to 65535", "e.g. :443")
    return int(port_text)


def _split_host_port(raw: str, netloc: str) -> tuple[str | None, str | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise _bad(raw, "unclosed [ in an IPv6 address", "write [2001:db8::1]:443")
        host, rest = netloc[1:end], netloc[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else None
    if netloc.count(":") > 1:
        return netloc, None  # bare IPv6 without port
    if ":" in netloc:
        h, p = netloc.rsplit(":", 1)
        return h, p
    return netloc or None, None


def _query(raw: str, query: str, allowed: set[str]) -> dict[str, str]:
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise _bad(
            raw,
            f"unknown option {unknown[0]!r}",
            f"allowed here: {', '.join(sorted(allowed)) or 'none'}",
        )
    return params


def _check_durations(raw: str, params: dict[str, str], keys: tuple[str, ...]) -> None:
    for k in keys:
        if k in params:
            try:
                parse_duration(params[k], k, DURATION_BOUNDS.get(k, (0.0, DURATION_MAX)))
            except BadInput as exc:
                raise _bad(raw, exc.message, exc.hint or "") from None


def _check_numbers(raw: str, params: dict[str, str], keys: tuple[str, ...]) -> None:
    for k in keys:
        if k in params:
            try:
                if not math.isfinite(float(params[k])):
                    raise ValueError
            except ValueError:
                raise _bad(raw, f"{k}={params[k]!r} is not a number", f"e.g. {k}=90") from None


def _check_range(raw: str, params: dict[str, str], key: str, bounds: tuple[float, float]) -> None:
    if key in params:
        lo, hi = bounds
        value = float(params[key])
        if not lo <= value <= hi or (key == "count" and not value.is_integer()):
            raise _bad(raw, f"{key}={params[key]} is out of range", f"allowed: {lo:g} to {hi:g}")


def _unchecked(raw: str, params: dict[str, str], key: str, bounds: tuple[float, float]) -> None:
    return None


def parse_spec(text: str, stored: bool = False) -> TargetSpec:
    """Parse a spec or raise BadInput saying what is wrong and showing the accepted forms.
    `stored`: a spec read back from the store skips the ranges checked when a target is added
    or edited, so one saved before a range was tightened still runs and reports what it finds."""
    _range = _unchecked if stored else _check_range
    raw = (text or "").strip()
    if not raw:
        raise BadInput("empty target spec", f"forms: {EXAMPLES}")
    if raw.startswith("cmd:"):
        return _parse_command(raw)
    if "://" not in raw:
        if re.fullmatch(r"[^\s/:]+:\d+|\[[0-9a-fA-F:]+\]:\d+", raw):
            return parse_spec("tcp://" + raw, stored)  # IP:PORT alone means TCP
        raise _bad(raw, "no scheme", f"start with one of the forms: {EXAMPLES}")
    scheme = raw.split("://", 1)[0].lower()
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise _bad(raw, "unclosed [ in an IPv6 address", "write [2001:db8::1]:443") from None
    if scheme == "tcp":
        host, port = _split_host_port(raw, parts.netloc)
        _query(raw, parts.query, set())
        return TargetSpec("tcp", raw, _check_host(raw, host), _check_port(raw, port, True))
    if scheme in ("http", "https"):
        if not stored and any(c.isspace() for c in raw):
            raise _bad(raw, "a URL cannot contain spaces", "write a space as %20")
        host, port = _split_host_port(raw, parts.netloc.rsplit("@", 1)[-1])
        _check_host(raw, host)
        p = _check_port(raw, port, False, 443 if scheme == "https" else 80)
        return TargetSpec("http", raw, host.strip("[]") if host else None, p, url=raw)
    if scheme in ("icmp", "ping"):
        host, port = _split_host_port(raw, parts.netloc)
        if port:
            raise _bad(raw, "ICMP has no port", "write icmp://host")
        params = _query(raw, parts.query, {"count", "interval", "max_loss", "max_rtt"})
        _check_numbers(raw, params, ("count", "max_loss", "max_rtt"))
        _range(raw, params, "count", ICMP_COUNT)
        _range(raw, params, "max_loss", (0, 100))
        _range(raw, params, "max_rtt", (0, 3_600_000))
        return TargetSpec("icmp", raw, _check_host(raw, host), params=params)
    if scheme == "dns":
        host, port = _split_host_port(raw, parts.netloc)
        params = _query(raw, parts.query, {"type", "expect", "server"})
        rtype = params.setdefault("type", "A").upper()
        params["type"] = rtype
        if rtype not in DNS_TYPES:
            raise _bad(
                raw, f"record type {rtype!r} is not supported", f"use one of {', '.join(DNS_TYPES)}"
            )
        if "server" in params:
            sh, sp = _split_host_port(raw, params["server"])
            _check_host(raw, sh)
            _check_port(raw, sp, False, 53)
        return TargetSpec("dns", raw, _check_host(raw, host), params=params)
    if scheme == "tls":
        host, port = _split_host_port(raw, parts.netloc)
        params = _query(raw, parts.query, {"min_days", "servername"})
        _check_numbers(raw, params, ("min_days",))
        _range(raw, params, "min_days", TLS_MIN_DAYS)
        return TargetSpec(
            "tls", raw, _check_host(raw, host), _check_port(raw, port, False, 443), params=params
        )
    if scheme == "heartbeat":
        name = parts.netloc
        if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise _bad(
                raw, "no heartbeat name", "write heartbeat://nightly-backup?every=1d&grace=1h"
            )
        params = _query(raw, parts.query, {"every", "grace", "cron", "tz", "schedule"})
        _check_durations(raw, params, ("every", "grace"))
        if "cron" in params:
            from engine.core.cron import normalise_cron

            if normalise_cron(params["cron"]) is None:
                raise _bad(
                    raw,
                    f"cron {params['cron']!r} does not parse",
                    "five fields, e.g. cron=0 3 * * *",
                )
        if params.get("schedule", "always") not in ("always", "business"):
            raise _bad(
                raw,
                f"schedule {params['schedule']!r} is unknown",
                "use schedule=always or schedule=business",
            )
        if "tz" in params:
            _check_tz(raw, params["tz"])
        return TargetSpec("heartbeat", raw, name, params=params)
    if scheme == "system":
        rest = raw.split("://", 1)[1]
        path_part, _, query = rest.partition("?")
        metric, _, mount = path_part.partition(":")
        metric = metric.lower()
        if metric not in SYSTEM_METRICS:
            raise _bad(
                raw,
                f"system metric {metric!r} is unknown",
                "use system://cpu, memory, swap, load or disk:/mount",
            )
        params = _query(raw, query, {"max", "min"})
        _check_numbers(raw, params, ("max", "min"))
        for key in ("max", "min"):
            _range(raw, params, key, SYSTEM_LOAD if metric == "load" else SYSTEM_PERCENT)
        if metric == "disk":
            params["path"] = mount or "/"
        elif mount:
            raise _bad(raw, f"{metric} takes no path", f"write system://{metric}?max=90")
        return TargetSpec("system", raw, metric=metric, params=params)
    raise _bad(raw, f"scheme {scheme!r} is unknown", f"forms: {EXAMPLES}")


def _check_tz(raw: str, tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            raw, f"time zone {tz!r} is unknown", "use an IANA name such as Europe/Berlin or UTC"
        ) from None


def _parse_command(raw: str) -> TargetSpec:
    body = raw[4:].strip()
    if not body:
        raise _bad(raw, "no command", "write cmd:/usr/local/bin/check_disk --warn 80")
    try:
        argv = tuple(shlex.split(body))
    except ValueError as exc:
        raise _bad(raw, f"command does not split into words ({exc})", "check the quotes") from None
    return TargetSpec("command", raw, argv=argv)


# TargetRecord.spec (engine.core) parses a stored spec lazily with this parser.
use_spec_parser(lambda text: parse_spec(text, stored=True))
