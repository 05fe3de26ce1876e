"""What the dispatcher hands a channel, and what a channel hands back.

Channels are pure senders: they get an OutgoingMessage and a ChannelContext (shared clients and
settings), and return a SendOutcome that tells the outbox whether to mark the row sent, retry it
later, or give up. They never raise for a failed delivery, so one bad contact cannot stop a batch.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from engine.security.privacy import redact

Kind = Literal["alert", "resolved", "acknowledged", "reminder", "escalation", "flapping", "test"]
Severity = Literal["low", "medium", "high", "critical"]
KINDS: tuple[str, ...] = (
    "alert",
    "resolved",
    "acknowledged",
    "reminder",
    "escalation",
    "flapping",
    "test",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_MAX_ERROR = 200


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OutgoingMessage:
    """One notification about one incident. `summary` is the unsealed detail and may name hosts:
    it goes to the contact (who owns the target) but never into logs or SendOutcome.error."""

    kind: Kind
    incident_id: str
    severity: Severity
    target_name: str
    target_ref: str
    state: str
    since: datetime
    error_class: str | None = None
    summary: str = ""
    level: int = 1
    ack_hint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SendOutcome:
    """The result of one delivery attempt, in the terms the outbox needs to decide what next."""

    ok: bool
    message_id: str | None = None
    permanent: bool = False
    retry_after: float | None = None
    error: str = ""

    def __post_init__(self) -> None:
        # The error string is stored and shown in the console: never let an address through.
        if self.error:
            self.error = redact(self.error)[:_MAX_ERROR]

    def add_error(self, text: str) -> None:
        """Append a provider's own reason (an error code, a schema complaint), redacted."""
        self.error = redact(f"{self.error} {text}".strip())[:_MAX_ERROR]

    @classmethod
    def from_http(
        cls, status: int, headers: Mapping[str, str], message_id: str | None = None
    ) -> SendOutcome:
        """Map an HTTP status to retry semantics: 2xx sent, 408/425/429/5xx retry, other 4xx
        permanent (the address or the payload is wrong and resending will not change that)."""
        if 200 <= status < 300:
            return cls(ok=True, message_id=message_id)
        retry_after = parse_retry_after(headers.get("retry-after"))
        if status in (408, 425, 429) or status >= 500:
            return cls(ok=False, retry_after=retry_after, error=f"HTTP {status}")
        return cls(ok=False, permanent=True, error=f"HTTP {status}")

    @classmethod
    def from_exception(cls, exc: BaseException, permanent: bool = False) -> SendOutcome:
        """A transport failure: the class name says enough, the text is redacted."""
        text = str(exc).strip()
        error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return cls(ok=False, permanent=permanent, error=error)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - _utcnow()).total_seconds())


@dataclass
class SmtpSettings:
    """Outgoing mail server. `starttls` upgrades a plain connection and refuses to send if the
    server does not offer it; `ssl` is implicit TLS (port 465). `ca_file` trusts a private CA."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    from_addr: str = "sysalert@localhost"
    starttls: bool = True
    ssl: bool = False
    timeout: float = 10.0
    ca_file: str | None = None
    helo: str | None = None  # EHLO name; None asks the OS (socket.getfqdn)


@dataclass
class ChannelContext:
    """Shared resources for every channel; the dispatcher builds one and reuses it."""

    http: httpx.AsyncClient
    smtp: SmtpSettings | None = None
    webhook_secret: str | None = None
    now: Callable[[], datetime] = _utcnow
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    timeout: float = 10.0
