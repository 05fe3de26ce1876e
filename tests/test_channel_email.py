"""E-mail channel against a real aiosmtpd server with STARTTLS (certificate from trustme)."""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine.notify.channels import email as email_channel
from engine.notify.message import ChannelContext, SmtpSettings
from tests.test_channel_webhook import NOW, free_port, make_msg


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Handler:
    """Records each accepted mail with whether the session had switched to TLS."""

    def __init__(self, refuse_rcpt: bool = False) -> None:
        self.mails: list[tuple[str, list[str], bytes, bool]] = []
        self.refuse_rcpt = refuse_rcpt

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse_rcpt:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.mails.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.ssl is not None)
        )
        return "250 Message accepted"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("ca")) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"alerts",
        b"correct horse",
    )
    return AuthResult(success=ok, handled=False)


@contextmanager
def _run(handler: Handler, **kw: object) -> Iterator[tuple[Controller, Handler]]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(ca):
    with _run(Handler(), tls_context=_server_tls(ca), require_starttls=True) as server:
        yield server


@pytest.fixture
def auth_server(ca):
    with _run(
        Handler(),
        tls_context=_server_tls(ca),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=True,
    ) as server:
        yield server


def _ctx(http: httpx.AsyncClient, port: int, ca_file: str | None, **kw: object) -> ChannelContext:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        from_addr="SysAlert <alerts@example.org>",
        ca_file=ca_file,
        timeout=5,
        helo="sysalert.test",
        **kw,
    )  # type: ignore[arg-type]
    return ChannelContext(http=http, smtp=settings, now=lambda: NOW)


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.anyio
async def test_mail_arrives_over_starttls_with_headers(starttls_server, ca_file, http) -> None:
    controller, handler = starttls_server
    out = await email_channel.send(
        "ops@example.com", make_msg(), _ctx(http, controller.port, ca_file)
    )
    assert out.ok, out.error
    (mail_from, rcpts, content, used_tls) = handler.mails[0]
    assert used_tls, "the session must have switched to TLS before DATA"
    assert mail_from == "alerts@example.org" and rcpts == ["ops@example.com"]
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert msg["Subject"] == "[CRITICAL] DOWN db-primary [inc-7]"
    assert msg["From"] == "SysAlert <alerts@example.org>"
    assert msg["To"] == "ops@example.com"
    assert msg["X-SysAlert-Incident"] == "inc-7"
    assert msg["X-SysAlert-Severity"] == "critical"
    assert msg["Message-ID"] == out.message_id and msg["Message-ID"].endswith("@example.org>")
    assert msg["Date"] == "Wed, 01 May 2024 12:06:00 +0000"
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("[CRITICAL] DOWN db-primary since 12:03 UTC (3m)")
    assert "Reply ack or /ack inc-7" in text
    html = msg.get_body(("html",)).get_content()
    assert "#D32F2F" in html and "db-primary" in html


@pytest.mark.anyio
async def test_resolved_mail_threads_with_the_alert(starttls_server, ca_file, http) -> None:
    controller, handler = starttls_server
    ctx = _ctx(http, controller.port, ca_file)
    assert (await email_channel.send("ops@example.com", make_msg(), ctx)).ok
    assert (await email_channel.send("ops@example.com", make_msg("resolved", state="up"), ctx)).ok
    first, second = (
        email.message_from_bytes(m[2], policy=email.policy.default) for m in handler.mails
    )
    assert second["Subject"].startswith("[RESOLVED]")
    assert second["In-Reply-To"] == first["References"] == second["References"]


@pytest.mark.anyio
async def test_auth_succeeds_with_right_password(auth_server, ca_file, http) -> None:
    controller, handler = auth_server
    ctx = _ctx(http, controller.port, ca_file, username="alerts", password="correct horse")
    out = await email_channel.send("ops@example.com", make_msg(), ctx)
    assert out.ok, out.error
    assert handler.mails and handler.mails[0][3]


@pytest.mark.anyio
async def test_auth_failure_is_permanent_and_nothing_sent(auth_server, ca_file, http) -> None:
    controller, handler = auth_server
    ctx = _ctx(http, controller.port, ca_file, username="alerts", password="wrong")
    out = await email_channel.send("ops@example.com", make_msg(), ctx)
    assert not out.ok and out.permanent and "535" in out.error
    assert handler.mails == []
    no_login = await email_channel.send(
        "ops@example.com", make_msg(), _ctx(http, controller.port, ca_file)
    )
    assert not no_login.ok and handler.mails == []


@pytest.mark.anyio
async def test_no_starttls_offered_refuses_to_send_in_clear(http) -> None:
    with _run(Handler()) as (controller, handler):
        out = await email_channel.send(
            "ops@example.com", make_msg(), _ctx(http, controller.port, None)
        )
        assert not out.ok and not out.permanent and "STARTTLS" in out.error
        assert handler.mails == []


@pytest.mark.anyio
async def test_untrusted_certificate_is_refused(starttls_server, http) -> None:
    controller, handler = starttls_server
    out = await email_channel.send("ops@example.com", make_msg(), _ctx(http, controller.port, None))
    assert not out.ok and handler.mails == []
    assert "127.0.0.1" not in out.error


@pytest.mark.anyio
async def test_refused_recipient_is_permanent(ca, ca_file, http) -> None:
    with _run(Handler(refuse_rcpt=True), tls_context=_server_tls(ca)) as (controller, handler):
        out = await email_channel.send(
            "nobody@example.com", make_msg(), _ctx(http, controller.port, ca_file)
        )
        assert not out.ok and out.permanent and "550" in out.error
        assert "nobody@example.com" not in out.error


@pytest.mark.anyio
async def test_missing_smtp_settings_is_permanent(http) -> None:
    out = await email_channel.send("ops@example.com", make_msg(), ChannelContext(http=http))
    assert not out.ok and out.permanent and "SMTP" in out.error
