"""TLS certificate probe: days left, hostname match, optional chain verification.

The peer certificate is read in binary form and parsed with `cryptography`, because
`getpeercert()` returns an empty dict when verification is off, and self-signed internal
certificates are exactly what people monitor. Expiry and hostname are always checked here, in our
own code, so the result says which of the two failed instead of one opaque handshake error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from datetime import UTC, datetime
from functools import cache
from time import perf_counter
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from engine.checks.options import flag
from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.tcp import check_conditions, classify_error, describe_error
from engine.checks.specs import TargetSpec

DEFAULT_MIN_DAYS = 14.0
_DAY = 86400.0


@cache
def _context(verify: bool) -> ssl.SSLContext:
    """Built once per setting: loading the trust store costs milliseconds."""
    context = ssl.create_default_context() if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # checked below, so a mismatch gets its own clear detail
    if not verify:
        context.verify_mode = ssl.CERT_NONE
    return context


def seconds_left(der: bytes, now: datetime | None = None) -> float:
    """Seconds until the DER certificate's notAfter (negative once expired)."""
    cert = x509.load_der_x509_certificate(der)
    return (cert.not_valid_after_utc - (now or datetime.now(UTC))).total_seconds()


def _idna(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _dnsname_match(pattern: str, host: str) -> bool:
    """RFC 6125 as Python's ssl did it: `*` only as the whole leftmost label, one label deep."""
    pattern = pattern.rstrip(".").lower()
    if "*" not in pattern:
        return pattern == host
    leftmost, sep, remainder = pattern.partition(".")
    if leftmost != "*" or not sep or "*" in remainder:
        return False  # partial (f*.x), bare (*) and nested wildcards never match
    host_left, host_sep, host_rest = host.partition(".")
    return bool(host_left) and bool(host_sep) and remainder == host_rest


def cert_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses the certificate is for (subject CN when there is no DNS SAN)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    if not dns:
        dns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return dns, ips


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """True when the certificate covers host (a DNS name or an IP literal)."""
    dns, ips = cert_names(cert)
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = _idna(host)
        return any(_dnsname_match(_idna(p) if "*" not in p else p, name) for p in dns)
    return any(ipaddress.ip_address(a) == ip for a in ips)


def _min_days(spec: TargetSpec, ctx: ProbeContext) -> float:
    value = spec.param_float("min_days")
    if value is None:
        value = float(ctx.options.get("min_days", DEFAULT_MIN_DAYS))
    return value


def _judge(
    cert: x509.Certificate, servername: str, left_s: float, min_days: float
) -> tuple[str, str] | None:
    """(error_class, detail) for the first problem with the certificate, or None."""
    now = datetime.now(UTC)
    if cert.not_valid_before_utc > now:
        return "tls", f"certificate not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if left_s <= 0:
        ago = -left_s / _DAY
        when = f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}"
        return "tls", f"certificate expired {ago:.1f} days ago ({when} UTC)"
    if not hostname_matches(cert, servername):
        dns, ips = cert_names(cert)
        names = ", ".join(dns + ips)[:200] or "none"
        return "tls", f"certificate does not match {servername} (it names: {names})"
    days = left_s / _DAY
    if days < min_days:
        return "threshold", f"certificate expires in {days:.1f} days, under {min_days:g}"
    return None


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Handshake, read the certificate, check expiry, hostname and days left."""
    host = spec.host or ""
    port = spec.port or 443
    servername = spec.params.get("servername") or host
    min_days = _min_days(spec, ctx)
    context = _context(flag(ctx.options, "verify_tls", False))
    loop = asyncio.get_running_loop()
    start = perf_counter()
    try:
        async with asyncio.timeout(ctx.timeout):
            transport, _ = await loop.create_connection(
                asyncio.Protocol,
                host,
                port,
                ssl=context,
                server_hostname=servername,
                ssl_handshake_timeout=ctx.timeout,
            )
    except Exception as exc:  # every failure becomes a result; cancellation still propagates
        ms = (perf_counter() - start) * 1000.0
        error_class = classify_error(exc)
        if error_class == "error" and isinstance(exc, ConnectionError | EOFError):
            error_class = "tls"  # the TCP connect worked; the peer hung up mid-handshake
        detail = describe_error(error_class, exc, f"{host}:{port}")
        return ProbeResult.failure(error_class, detail, ms, connected=False, response_time_ms=ms)
    ms = (perf_counter() - start) * 1000.0
    try:
        peer = transport.get_extra_info("peername")
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        transport.abort()  # nothing to say to the server; skip the close_notify round trip
    facts: dict[str, Any] = {
        "connected": True,
        "response_time_ms": ms,
        "ip": peer[0] if peer else None,
    }
    if not der:
        return ProbeResult(False, ms, None, "tls", "the server sent no certificate", False, facts)
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return ProbeResult(
            False, ms, None, "tls", f"certificate does not parse: {exc}", False, facts
        )
    left_s = (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds()
    days = left_s / _DAY
    facts["certificate_expiration_s"] = left_s
    problem = _judge(cert, servername, left_s, min_days)
    if problem is not None:
        return ProbeResult(False, ms, days, problem[0], problem[1], False, facts)
    if ctx.conditions:
        failed = check_conditions(ctx, **facts)
        if failed is not None:
            return ProbeResult(False, ms, days, "condition", failed, False, facts)
    return ProbeResult(True, ms, days, None, "", False, facts)
