"""E-mail over SMTP: STARTTLS by default (and never a silent fall-back to plain text), AUTH when a
username is set. smtplib runs in a worker thread so a slow mail server never blocks the loop."""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import ssl
from email.message import EmailMessage

import anyio

from engine.notify import templates
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome, SmtpSettings

# No folding below RFC 5322's hard limit: the stdlib folds a subject that starts with "[" right
# after "Subject:", which some parsers then read with a leading space.
_POLICY = email.policy.default.clone(max_line_length=998)


class StartTLSUnavailable(smtplib.SMTPException):
    """The server did not offer STARTTLS although the settings require it."""


def build_message(
    address: str, msg: OutgoingMessage, settings: SmtpSettings, ctx: ChannelContext
) -> EmailMessage:
    """Headers a mail filter can route on (X-SysAlert-*), a thread key so every notice about one
    incident lands in one conversation, and Auto-Submitted so vacation replies stay away."""
    now = ctx.now()
    _, sender = email.utils.parseaddr(settings.from_addr)
    domain = sender.rpartition("@")[2] or "sysalert.invalid"
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = templates.render_subject(msg, now)
    message["From"] = settings.from_addr
    message["To"] = address
    message["Date"] = email.utils.format_datetime(templates.utc(now))
    message["Message-ID"] = email.utils.make_msgid(idstring="sysalert", domain=domain)
    thread = f"<incident.{_token(msg.incident_id)}@{domain}>"
    if msg.kind != "alert":
        message["In-Reply-To"] = thread
    message["References"] = thread
    message["Auto-Submitted"] = "auto-generated"
    message["X-SysAlert-Incident"] = msg.incident_id
    message["X-SysAlert-Severity"] = msg.severity
    message["X-SysAlert-Kind"] = msg.kind
    message.set_content(templates.render_text(msg, now) + "\n")
    message.add_alternative(templates.render_html(msg, now), subtype="html")
    return message


def _token(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:120] or "x"


def _deliver(settings: SmtpSettings, message: EmailMessage, rcpt: str) -> None:
    """Blocking SMTP conversation; raises smtplib/OSError exceptions mapped by send()."""
    tls = ssl.create_default_context(cafile=settings.ca_file)
    client: smtplib.SMTP
    if settings.ssl:
        client = smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            local_hostname=settings.helo,
            timeout=settings.timeout,
            context=tls,
        )
    else:
        client = smtplib.SMTP(
            settings.host, settings.port, local_hostname=settings.helo, timeout=settings.timeout
        )
    with client:
        client.ehlo()
        if not settings.ssl and settings.starttls:
            if not client.has_extn("starttls"):
                raise StartTLSUnavailable("server does not offer STARTTLS")
            client.starttls(context=tls)
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")
        _, sender = email.utils.parseaddr(settings.from_addr)
        client.send_message(message, from_addr=sender or settings.from_addr, to_addrs=[rcpt])


def _outcome(exc: Exception) -> SendOutcome:
    """SMTP's own rule: 5xx is permanent, 4xx is worth retrying; network and TLS trouble retry."""
    code: int | None = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = max(codes) if codes else None
        return SendOutcome(
            ok=False, permanent=bool(code and code >= 500), error=f"recipient refused ({code})"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return SendOutcome(
            ok=False, permanent=code >= 500, error=f"{type(exc).__name__} {code}: {text}"
        )
    return SendOutcome.from_exception(exc)


async def send(address: str, msg: OutgoingMessage, ctx: ChannelContext) -> SendOutcome:
    """Deliver one mail; the Message-ID is the outbox's message id."""
    settings = ctx.smtp
    if settings is None:
        return SendOutcome(ok=False, permanent=True, error="SMTP is not configured ([smtp] host)")
    message = build_message(address, msg, settings, ctx)
    try:
        await anyio.to_thread.run_sync(_deliver, settings, message, address)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return _outcome(exc)
    return SendOutcome(ok=True, message_id=str(message["Message-ID"]))
