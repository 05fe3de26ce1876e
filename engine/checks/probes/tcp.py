"""TCP connect probe: the hot path of the engine, so it allocates as little as it can.

It uses `loop.create_connection` with one shared, stateless protocol that closes the transport as
soon as it is made (no streams, no reader/writer objects). IP literals go straight to the loop,
which skips the resolver; names are resolved with `loop.getaddrinfo` so DNS failures get their own
error class. The module also holds the error classifier and the condition helper that the other
network probes (http, tls) share, because it is the lightest module to import.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from functools import lru_cache
from time import perf_counter
from typing import Any

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.specs import TargetSpec

_UNREACHABLE = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EADDRNOTAVAIL}
)


class _Closer(asyncio.Protocol):
    """Closes the transport the moment it is connected; stateless, so one instance serves all."""

    __slots__ = ()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


_CLOSER = _Closer()


def _closer() -> _Closer:
    return _CLOSER


@lru_cache(maxsize=65536)
def is_ip_literal(host: str) -> bool:
    """True for an IPv4/IPv6 literal; cached because the same hosts are probed over and over."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def classify_error(exc: BaseException) -> str:
    """Map an exception (walking its cause chain and exception groups) to a result error class."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLError | ssl.CertificateError):
            return "tls"
        if isinstance(e, TimeoutError):
            return "timeout"
        if isinstance(e, socket.gaierror | UnicodeError):
            return "dns"  # UnicodeError: the IDNA codec rejected the name before any lookup
        if isinstance(e, ConnectionRefusedError):
            return "refused"
        if isinstance(e, OSError) and e.errno in _UNREACHABLE:
            return "unreachable"
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        if e.__context__ is not None:
            stack.append(e.__context__)
        if e.__cause__ is not None:
            stack.append(e.__cause__)
    return "error"


def describe_error(error_class: str, exc: BaseException, where: str) -> str:
    """A short detail line; it may name the target because details are sealed before storage."""
    if error_class == "timeout":
        return f"timed out connecting to {where}"
    if error_class == "refused":
        return f"connection refused by {where}"
    text = str(exc) or type(exc).__name__
    if error_class == "dns":
        return f"name does not resolve: {where} ({text})"[:300]
    if error_class == "unreachable":
        return f"network unreachable: {where} ({text})"[:300]
    return f"{type(exc).__name__}: {text} ({where})"[:300]


def check_conditions(ctx: ProbeContext, **facts: Any) -> str | None:
    """Evaluate ctx.conditions (facts named as ConditionFacts fields); None when all hold, else
    the failing descriptions joined with '; '."""
    from engine.checks.conditions.parse import ConditionFacts, evaluate_all

    ok, outcomes = evaluate_all(ctx.conditions, ConditionFacts(**facts))
    if ok:
        return None
    return "; ".join(o.description for o in outcomes if not o.ok) or "condition failed"


def conditions_use(ctx: ProbeContext, placeholder: str) -> bool:
    """Whether any condition reads placeholder (unparsed text counts as yes), so a probe can skip
    gathering a fact nobody asked for."""
    return any(
        isinstance(c, str) or placeholder in getattr(c, "placeholders", (placeholder,))
        for c in ctx.conditions
    )


async def _connect_by_name(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> tuple[str, asyncio.BaseTransport]:
    """Resolve, then try each address in order; the last error is raised if none connects."""
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError | None = None
    for family, _type, _proto, _name, addr in infos:
        try:
            ip = str(addr[0])
            transport, _ = await loop.create_connection(_closer, ip, port, family=family)
            return ip, transport
        except OSError as exc:
            last = exc
    raise last or socket.gaierror(socket.EAI_NONAME, "no address")


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Connect, time it, close. Never raises for a failed check."""
    host = spec.host or ""
    port = spec.port or 0
    loop = asyncio.get_running_loop()
    ip: str | None = host if is_ip_literal(host) else None
    start = perf_counter()
    try:
        if ctx.bounded_outside and ip is not None:
            await loop.create_connection(_closer, host, port)
        else:
            async with asyncio.timeout(ctx.timeout):
                if ip is not None:
                    await loop.create_connection(_closer, host, port)
                else:
                    ip, _ = await _connect_by_name(loop, host, port)
    except Exception as exc:  # every failure becomes a result; cancellation still propagates
        ms = (perf_counter() - start) * 1000.0
        error_class = classify_error(exc)
        return ProbeResult(
            False,
            ms,
            None,
            error_class,
            describe_error(error_class, exc, f"{host}:{port}"),
            False,
            {"connected": False, "response_time_ms": ms, "ip": ip},
        )
    ms = (perf_counter() - start) * 1000.0
    facts = {"connected": True, "response_time_ms": ms, "ip": ip}
    if ctx.conditions:
        failed = check_conditions(ctx, **facts)
        if failed is not None:
            return ProbeResult(False, ms, ms, "condition", failed, False, facts)
    return ProbeResult(True, ms, ms, None, "", False, facts)


probe.own_timeout = True  # type: ignore[attr-defined]  # bounded by ctx.timeout above
