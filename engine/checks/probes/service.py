"""What every service probe shares: its client library imported on first use (with the extra to
install when it is missing), credentials read from the spec, one timeout, the error classes and
the Gatus facts ([CONNECTED], [RESPONSE_TIME], [BODY] as JSON).

A driver's error text may quote the address; details are sealed before storage like every probe's,
and the password is cut out of them here so it never reaches a detail, a log or an answer.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from time import perf_counter
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.tcp import check_conditions, classify_error, describe_error
from engine.checks.specs import TargetSpec
from engine.core.spec_secrets import MASK

EXTRA = "sysalert[services]"
_TRUE = {"true", "yes", "on", "1"}
# Words drivers use, lower case -> error class; checked before the exception types are walked,
# because most drivers wrap the socket error in one of their own with the text only.
_TEXT_CLASSES = (
    ("password authentication failed", "permission"),
    ("access denied", "permission"),
    ("authentication", "permission"),
    ("wrongpass", "permission"),
    ("noauth", "permission"),
    ("not authorized", "permission"),
    (
        "not authorised",
        "permission",
    ),  # paho-mqtt 1.x: "[code:5] Connection Refused: not authorised"
    ("[code:4]", "permission"),  # MQTT 3.1.1 CONNACK: bad user name or password
    ("[code:5]", "permission"),  # MQTT 3.1.1 CONNACK: not authorized
    ("bad user name or password", "permission"),
    ("access_refused", "permission"),
    ("authorization violation", "permission"),  # nats
    ('role "', "permission"),  # postgres: role "x" does not exist
    ('database "', "permission"),  # postgres: database "x" does not exist
    ("does not support ssl", "tls"),  # postgres: sslmode=require on a server without TLS
    ("connection refused", "refused"),
    ("errno 111", "refused"),
    ("timeout expired", "timeout"),
    ("timed out", "timeout"),
    ("could not translate host name", "dns"),
    ("name or service not known", "dns"),
    ("temporary failure in name resolution", "dns"),
)


class ProtocolError(Exception):
    """The server answered, but not in its protocol (a banner that is not one, a bad reply)."""


class MissingLibrary(Exception):
    """The kind's client library is not installed: the result says which extra brings it."""


def client(module: str, kind: str) -> ModuleType:
    """Import a client library, or raise MissingLibrary naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingLibrary(
            f"{kind} checks need the {module.split('.')[0]} package, which is not installed: "
            f"pip install '{EXTRA}'"
        ) from None


def setting(spec: TargetSpec, ctx: ProbeContext, key: str, default: Any = None) -> Any:
    """An option from the spec's query string, else from --option, else the default."""
    if key in spec.params:
        return spec.params[key]
    return ctx.options.get(key, default)


def enabled(spec: TargetSpec, ctx: ProbeContext, key: str) -> bool:
    value = setting(spec, ctx, key, False)
    return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE


def number(spec: TargetSpec, ctx: ProbeContext, key: str) -> float | None:
    value = setting(spec, ctx, key)
    return None if value is None else float(value)


def credentials(spec: TargetSpec) -> tuple[str | None, str | None, str]:
    """(user, password, path without its leading /), percent-decoded."""
    parts = urlsplit(spec.url or spec.raw)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return user, password, unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)


def where(spec: TargetSpec) -> str:
    return f"{spec.host}:{spec.port}" if spec.port else str(spec.host)


def error_class(exc: BaseException) -> str:
    """The class of a driver's error: its text first, then the exception chain."""
    if isinstance(exc, ProtocolError):
        return "protocol"
    if isinstance(exc, FileNotFoundError):
        return "unreachable"  # a socket or tool that is not on this host
    text = f"{type(exc).__name__} {exc}".lower()
    for words, cls in _TEXT_CLASSES:
        if words in text:
            return cls
    return classify_error(exc)


def scrub(text: str, spec: TargetSpec) -> str:
    """A detail without the spec's password (drivers may quote the URL they were given)."""
    _user, password, _path = credentials(spec)
    if password:
        text = text.replace(password, MASK)
    return text[:300]


def failure(
    spec: TargetSpec, ctx: ProbeContext, exc: BaseException, start: float, what: str = ""
) -> ProbeResult:
    """A failed check from an exception: timeout, refused, permission (wrong password) or error."""
    ms = (perf_counter() - start) * 1000.0
    if isinstance(exc, MissingLibrary):
        return ProbeResult.failure("error", str(exc), ms, connected=False, response_time_ms=ms)
    cls = error_class(exc)
    at = where(spec)
    if cls == "timeout":
        detail = f"no answer from {at} within {ctx.timeout:g}s" + (f" ({what})" if what else "")
    elif cls == "permission":
        detail = f"{at} refused the login: {str(exc).strip() or type(exc).__name__}"
    elif cls in ("protocol", "unreachable") and str(exc):
        detail = f"{exc} ({at})"
    else:
        detail = describe_error(cls, exc, at)
    return ProbeResult.failure(cls, scrub(detail, spec), ms, connected=False, response_time_ms=ms)


def body_text(body: Any) -> str | None:
    """[BODY] as JSON text (datetimes, decimals and bytes as strings); text stays as it is."""
    if body is None or isinstance(body, str):
        return body
    return json.dumps(body, default=str, ensure_ascii=False, sort_keys=True)


def done(
    ctx: ProbeContext,
    start: float,
    body: Any = None,
    problem: tuple[str, str] | None = None,
    ip: str | None = None,
    **more: Any,
) -> ProbeResult:
    """The connected outcome: a problem the probe found, else the conditions, else up. `more`:
    further condition facts (certificate_expiration_s)."""
    ms = (perf_counter() - start) * 1000.0
    text = body_text(body)
    facts: dict[str, Any] = {"connected": True, "response_time_ms": ms, "body": text, "ip": ip}
    facts.update(more)
    if problem is not None:
        return ProbeResult(False, ms, ms, problem[0], problem[1][:300], False, facts)
    if ctx.conditions:
        failed = check_conditions(ctx, **facts)
        if failed is not None:
            return ProbeResult(False, ms, ms, "condition", failed, False, facts)
    return ProbeResult(True, ms, ms, None, "", False, facts)


async def guarded(
    spec: TargetSpec,
    ctx: ProbeContext,
    run: Callable[[float], Awaitable[ProbeResult]],
    what: str = "",
) -> ProbeResult:
    """Run a probe body under ctx.timeout; every failure becomes a result (cancellation still
    propagates). `run` gets the start time so it can report its own latency."""
    import asyncio

    start = perf_counter()
    try:
        async with asyncio.timeout(ctx.timeout):
            return await run(start)
    except Exception as exc:
        return failure(spec, ctx, exc, start, what)
