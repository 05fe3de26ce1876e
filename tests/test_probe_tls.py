"""TLS probe against real asyncio TLS servers with certificates minted by trustme."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.checks.conditions.parse import parse_condition
from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext
from engine.checks.probes.tls import hostname_matches, probe, seconds_left
from engine.checks.specs import parse_spec

NOW = datetime.now(UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def tls_server(
    cert: trustme.LeafCert, seen_sni: list[str | None] | None = None
) -> AsyncIterator[int]:
    """A TLS listener on 127.0.0.1 serving cert; yields its port and records the SNI it got."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if seen_sni is not None:
        context.sni_callback = lambda _obj, name, _ctx: seen_sni.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read(100)
        writer.close()

    async with serving(handle, context) as port:
        yield port


@contextlib.asynccontextmanager
async def serving(handle: Any, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """start_server that also ends its connection handlers, so none outlives the test's loop."""
    tasks: set[asyncio.Task[Any]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handle(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=context)
    try:
        async with server:
            yield server.sockets[0].getsockname()[1]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports finish their callbacks


async def check(spec: str, timeout: float = 3.0, **opts: object):
    return await probe(parse_spec(spec), ProbeContext(timeout=timeout, options=dict(opts)))


@pytest.mark.anyio
async def test_valid_certificate(ca: trustme.CA) -> None:
    assert get_probe("tls") is probe
    cert = ca.issue_cert("127.0.0.1", "localhost", not_after=NOW + timedelta(days=90))
    async with tls_server(cert) as port:
        r = await check(f"tls://127.0.0.1:{port}")
    assert r.ok, r.detail
    assert r.error_class is None
    assert r.value is not None and 89 < r.value <= 90
    assert r.latency_ms is not None and r.latency_ms > 0
    assert r.facts["connected"] is True
    assert r.facts["ip"] == "127.0.0.1"
    assert 89 * 86400 < r.facts["certificate_expiration_s"] <= 90 * 86400


@pytest.mark.anyio
async def test_expiring_soon_is_a_threshold_failure(ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1", not_after=NOW + timedelta(days=3))
    async with tls_server(cert) as port:
        soon = await check(f"tls://127.0.0.1:{port}")
        relaxed = await check(f"tls://127.0.0.1:{port}?min_days=2")
        from_options = await check(f"tls://127.0.0.1:{port}", min_days=1)
    assert not soon.ok
    assert soon.error_class == "threshold"
    assert soon.value is not None and 2.9 < soon.value <= 3
    assert "under 14" in soon.detail
    assert relaxed.ok, relaxed.detail
    assert from_options.ok, from_options.detail


@pytest.mark.anyio
async def test_expired_certificate(ca: trustme.CA) -> None:
    cert = ca.issue_cert(
        "127.0.0.1", not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=2)
    )
    async with tls_server(cert) as port:
        r = await check(f"tls://127.0.0.1:{port}")
    assert not r.ok
    assert r.error_class == "tls"
    assert "expired" in r.detail
    assert r.value is not None and -2.1 < r.value < -1.9
    assert r.facts["certificate_expiration_s"] < 0


@pytest.mark.anyio
async def test_wrong_hostname(ca: trustme.CA) -> None:
    cert = ca.issue_cert("other.example")
    async with tls_server(cert) as port:
        r = await check(f"tls://127.0.0.1:{port}")
    assert not r.ok
    assert r.error_class == "tls"
    assert "does not match" in r.detail and "other.example" in r.detail


@pytest.mark.anyio
async def test_servername_is_sent_and_matched(ca: trustme.CA) -> None:
    seen: list[str | None] = []
    cert = ca.issue_cert("svc.internal")
    async with tls_server(cert, seen) as port:
        r = await check(f"tls://127.0.0.1:{port}?servername=svc.internal")
    assert r.ok, r.detail
    assert seen == ["svc.internal"]


@pytest.mark.anyio
async def test_wildcard_names(ca: trustme.CA) -> None:
    cert = ca.issue_cert("*.example.test")
    async with tls_server(cert) as port:
        one_label = await check(f"tls://127.0.0.1:{port}?servername=api.example.test")
        two_labels = await check(f"tls://127.0.0.1:{port}?servername=a.b.example.test")
        bare = await check(f"tls://127.0.0.1:{port}?servername=example.test")
    assert one_label.ok, one_label.detail
    assert two_labels.error_class == "tls"
    assert bare.error_class == "tls"


@pytest.mark.anyio
async def test_verification_is_optional(ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1")
    async with tls_server(cert) as port:
        r = await check(f"tls://127.0.0.1:{port}", verify_tls=True)
    assert not r.ok
    assert r.error_class == "tls"  # trustme's CA is not in the system store


@pytest.mark.anyio
async def test_plain_tcp_server_fails_the_handshake() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n" * 20)
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    async with serving(handle) as port:
        r = await check(f"tls://127.0.0.1:{port}", timeout=2)
    assert not r.ok
    assert r.error_class == "tls"


@pytest.mark.anyio
async def test_closed_port_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await check(f"tls://127.0.0.1:{port}")
    assert r.error_class == "refused"
    assert r.facts["connected"] is False


def _self_signed(common_name: str, *san: str) -> x509.Certificate:
    """A certificate trustme cannot make: CN only (no SAN), or a partial wildcard SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=10))
    )
    if san:
        names = x509.SubjectAlternativeName([x509.DNSName(n) for n in san])
        builder = builder.add_extension(names, critical=False)
    return builder.sign(key, hashes.SHA256())


def test_hostname_rules(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("127.0.0.1", "Db.Internal")
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert hostname_matches(cert, "127.0.0.1")
    assert not hostname_matches(cert, "127.0.0.2")
    assert hostname_matches(cert, "db.internal.")  # case and a trailing dot do not matter
    assert not hostname_matches(cert, "internal")
    cn_only = _self_signed("legacy.internal")
    assert hostname_matches(cn_only, "legacy.internal")  # no SAN: the subject CN counts
    assert not hostname_matches(cn_only, "other.internal")
    with_san = _self_signed("legacy.internal", "new.internal")
    assert not hostname_matches(with_san, "legacy.internal")  # a DNS SAN hides the CN
    partial = _self_signed("x", "f*.example.test", "*")
    assert not hostname_matches(partial, "foo.example.test")
    assert not hostname_matches(partial, "test")


def test_seconds_left_reads_der(ca: trustme.CA) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    leaf = ca.issue_cert("x.test", not_after=NOW + timedelta(days=5))
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
    assert 4.9 * 86400 < seconds_left(der) <= 5 * 86400


@pytest.mark.anyio
async def test_certificate_expiration_condition(ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1", not_after=NOW + timedelta(days=90))
    async with tls_server(cert) as port:
        spec = parse_spec(f"tls://127.0.0.1:{port}")
        holds = [parse_condition("[CERTIFICATE_EXPIRATION] > 720h")]
        fails = [parse_condition("[CERTIFICATE_EXPIRATION] > 2400h")]
        ok = await probe(spec, ProbeContext(timeout=3, conditions=holds))
        failed = await probe(spec, ProbeContext(timeout=3, conditions=fails))
    assert ok.ok, ok.detail
    assert not failed.ok and failed.error_class == "condition"
    assert failed.value is not None and 89 < failed.value <= 90
