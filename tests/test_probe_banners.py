"""SMTP, SSH and UDP probes against real servers started by the test: aiosmtpd (an SMTP server,
STARTTLS with a trustme certificate, and smtps from the first byte), asyncssh (an SSH server with a
host key made here), and a UDP echo; plus a server that accepts and never answers, a closed port,
and a peer that speaks another protocol."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.service_probes import black_hole, check, closed_port

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


@contextlib.contextmanager
def smtp_server(**kw: Any) -> Iterator[int]:
    controller = Controller(_Sink(), hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def _server_tls(ca: trustme.CA, **valid: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", **valid).configure_cert(context)
    return context


async def test_smtp_banner_and_ehlo() -> None:
    with smtp_server() as port:
        res = await check(f"smtp://127.0.0.1:{port}", conditions=["[BODY].banner_code == 220"])
        assert res.ok, res.detail
        res = await check(f"smtp://127.0.0.1:{port}?starttls=true")  # not offered here
        assert not res.ok and res.error_class == "tls" and "STARTTLS" in res.detail


async def test_smtp_starttls_reads_the_certificate_days(ca: trustme.CA) -> None:
    with smtp_server(tls_context=_server_tls(ca)) as port:
        res = await check(
            f"smtp://127.0.0.1:{port}?starttls=true",
            conditions=["[BODY].tls_days > 30", "[CERTIFICATE_EXPIRATION] > 48h"],
        )
        assert res.ok, res.detail
    soon = datetime.now(UTC) + timedelta(days=10)
    with smtp_server(tls_context=_server_tls(ca, not_after=soon)) as port:
        res = await check(f"smtp://127.0.0.1:{port}?starttls=true&min_days=14")
        assert not res.ok and res.error_class == "threshold" and "under 14" in res.detail
        assert (await check(f"smtp://127.0.0.1:{port}?starttls=true&min_days=5")).ok


async def test_smtps_is_tls_from_the_first_byte(ca: trustme.CA) -> None:
    with smtp_server(server_hostname="127.0.0.1", ssl_context=_server_tls(ca)) as port:
        res = await check(f"smtps://127.0.0.1:{port}", conditions=["[BODY].tls_days > 1"])
        assert res.ok, res.detail


async def test_smtp_silence_closed_and_not_smtp() -> None:
    with black_hole() as port:
        res = await check(f"smtp://127.0.0.1:{port}", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"
    res = await check(f"smtp://127.0.0.1:{closed_port()}")
    assert not res.ok and res.error_class == "refused"
    with _talker(b"SSH-2.0-OpenSSH_9.2p1\r\n") as port:
        res = await check(f"smtp://127.0.0.1:{port}")
        assert not res.ok and res.error_class == "protocol" and "not an SMTP reply" in res.detail


@contextlib.contextmanager
def _talker(greeting: bytes) -> Iterator[int]:
    """A TCP server that sends one greeting to each client and then waits for it to leave."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(greeting)
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@contextlib.asynccontextmanager
async def ssh_server() -> Any:
    """A real SSH server (asyncssh) with a host key made for the test; yields (port, fingerprint)."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        asyncssh.SSHServer, "127.0.0.1", 0, server_host_keys=[key], login_timeout=5
    )
    try:
        port = server.sockets[0].getsockname()[1]
        yield port, key.get_fingerprint("sha256")
    finally:
        server.close()
        await server.wait_closed()


async def test_ssh_banner_and_host_key_pin() -> None:
    async with ssh_server() as (port, fingerprint):
        res = await check(f"ssh://127.0.0.1:{port}", conditions=["[BODY].protocol == 2.0"])
        assert res.ok, res.detail
        assert "AsyncSSH" in res.facts["body"]
        assert (await check(f"ssh://127.0.0.1:{port}?fingerprint={fingerprint}")).ok
        # a fingerprint with '+' (half of them): the query string must not turn it into a space
        plus = "SHA256:" + "+" * 43
        res = await check(f"ssh://127.0.0.1:{port}?fingerprint={plus}")
        assert "pinned SHA256:+++" in res.detail
        wrong = "SHA256:" + "A" * 43
        res = await check(f"ssh://127.0.0.1:{port}?fingerprint={wrong}")
        assert not res.ok and res.error_class == "protocol" and "host key changed" in res.detail


async def test_ssh_silence_closed_and_not_ssh() -> None:
    with black_hole() as port:
        res = await check(f"ssh://127.0.0.1:{port}", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"
    res = await check(f"ssh://127.0.0.1:{closed_port()}")
    assert not res.ok and res.error_class == "refused"
    with _talker(b"220 mail ESMTP\r\n") as port:
        res = await check(f"ssh://127.0.0.1:{port}", timeout=1.0)
        assert not res.ok and res.error_class in ("protocol", "timeout")
    with _talker(b"SSH-1.5-old\r\n") as port:
        res = await check(f"ssh://127.0.0.1:{port}")
        assert not res.ok and res.error_class == "protocol" and "not 2.0" in res.detail


@contextlib.contextmanager
def udp_server(reply: bool = True) -> Iterator[int]:
    """A UDP echo answering `pong:<payload>`; with reply=False it reads and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(2048)
            except OSError:
                continue
            if reply:
                sock.sendto(b"pong:" + data, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        sock.close()


async def test_udp_send_and_expect() -> None:
    with udp_server() as port:
        res = await check(f"udp://127.0.0.1:{port}?send=ping&expect=pong")
        assert res.ok and res.facts["body"] == "pong:ping"
        res = await check(f"udp://127.0.0.1:{port}?send=ping", conditions=["[BODY] == pong:ping"])
        assert res.ok, res.detail
        res = await check(f"udp://127.0.0.1:{port}?send=ping&expect=nope")
        assert not res.ok and res.error_class == "keyword"


async def test_udp_silent_and_closed() -> None:
    with udp_server(reply=False) as port:
        res = await check(f"udp://127.0.0.1:{port}?send=ping", timeout=0.5)
        assert not res.ok and res.error_class == "timeout"
    res = await check(f"udp://127.0.0.1:{closed_port()}?send=ping")  # ICMP port unreachable
    assert not res.ok and res.error_class == "refused"
