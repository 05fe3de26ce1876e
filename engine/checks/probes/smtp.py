"""SMTP probe, spoken directly (no library): the 220 banner, EHLO, and with ?starttls=true the
STARTTLS upgrade and the certificate's days left; smtps:// is TLS from the first byte.

A few lines of the protocol cost less than a client library and say exactly which step failed.
It never authenticates and never sends mail: it ends with QUIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import UTC, datetime
from typing import Any

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import ProtocolError, done, enabled, guarded, number
from engine.checks.service_specs import uses_tls
from engine.checks.specs import TargetSpec

LINE_MAX = 4096
LINES_MAX = 100
_DAY = 86400.0


async def _reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One SMTP reply: its code and its lines (a multi-line reply ends with `CODE text`)."""
    lines: list[str] = []
    while len(lines) < LINES_MAX:
        raw = await reader.readline()
        if not raw:
            raise ProtocolError(
                "the server closed the connection" + (f" after {lines}" if lines else "")
            )
        line = raw[:LINE_MAX].decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ProtocolError(f"not an SMTP reply: {line[:80]!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), lines
    raise ProtocolError("a reply of more than 100 lines")


def _context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = verify
    if not verify:
        context.verify_mode = ssl.CERT_NONE
    return context


def _days_left(writer: asyncio.StreamWriter) -> float | None:
    from cryptography import x509

    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / _DAY


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str
) -> tuple[int, list[str]]:
    writer.write(line.encode() + b"\r\n")
    await writer.drain()
    return await _reply(reader)


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Banner, EHLO, optional STARTTLS with the certificate's days, QUIT."""
    starttls = enabled(spec, ctx, "starttls")
    verify = enabled(spec, ctx, "verify_tls")
    min_days = number(spec, ctx, "min_days")

    async def run(start: float) -> ProbeResult:
        tls = _context(verify) if uses_tls(spec) else None
        reader, writer = await asyncio.open_connection(
            spec.host, spec.port, ssl=tls, server_hostname=spec.host if tls else None
        )
        try:
            code, banner = await _reply(reader)
            body: dict[str, Any] = {"banner_code": code, "banner": banner[0][:200]}
            more: dict[str, Any] = {}
            if code != 220:
                return done(ctx, start, body, ("status", f"banner code {code}, not 220"))
            code, ehlo = await _command(reader, writer, "EHLO sysalert.invalid")
            body["ehlo_code"] = code
            if code != 250:
                return done(ctx, start, body, ("status", f"EHLO answered {code}, not 250"))
            if starttls:
                if not any(e.upper().startswith("STARTTLS") for e in ehlo[1:]):
                    return done(ctx, start, body, ("tls", "the server does not offer STARTTLS"))
                code, _ = await _command(reader, writer, "STARTTLS")
                if code != 220:
                    return done(ctx, start, body, ("tls", f"STARTTLS answered {code}, not 220"))
                await writer.start_tls(_context(verify), server_hostname=spec.host)
                code, _ = await _command(reader, writer, "EHLO sysalert.invalid")
            if starttls or tls is not None:
                days = _days_left(writer)
                body["tls_days"] = None if days is None else round(days, 2)
                if days is not None:
                    more["certificate_expiration_s"] = days * _DAY
                problem = _cert_problem(days, min_days)
                if problem is not None:
                    return done(ctx, start, body, problem, **more)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_command(reader, writer, "QUIT"), 1.0)
        finally:
            writer.close()
        return done(ctx, start, body, **more)

    return await guarded(spec, ctx, run, "the SMTP banner and EHLO")


def _cert_problem(days: float | None, min_days: float | None) -> tuple[str, str] | None:
    if days is None:
        return "tls", "the server sent no certificate"
    if days <= 0:
        return "tls", f"the certificate expired {-days:.1f} days ago"
    if min_days is not None and days < min_days:
        return "threshold", f"the certificate expires in {days:.1f} days, under {min_days:g}"
    return None
