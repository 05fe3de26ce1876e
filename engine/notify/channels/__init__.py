"""Notification channels: the registry, contact-address validation, and one send() for all.

Every channel module exposes `async def send(address, msg, ctx) -> SendOutcome`. Telegram lives in
engine.telegram and plugs in through register_channel() with the same signature.

Addresses are secrets (webhook tokens, Apprise passwords, chat ids): no error message here ever
repeats the address, it says what is wrong and shows an example instead.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from engine.core.errors import BadInput
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome

Sender = Callable[[str, OutgoingMessage, ChannelContext], Awaitable[SendOutcome]]

# Channels that can send right now. register_channel() adds to it (Telegram does, at start-up).
CHANNELS: set[str] = {"webhook", "slack", "discord", "email", "pagerduty", "apprise"}
# Channels whose addresses we validate, including ones registered later.
ADDRESS_CHANNELS: tuple[str, ...] = (
    "webhook",
    "slack",
    "discord",
    "email",
    "pagerduty",
    "apprise",
    "telegram",
)
_BUILTIN = {name: f"engine.notify.channels.{name}" for name in CHANNELS}
_registered: dict[str, Sender] = {}

EXAMPLES = {
    "webhook": "webhook:https://ops.example.com/hooks/sysalert (add ?format=alertmanager "
    "for Alertmanager's body)",
    "slack": "slack:https://hooks.slack.com/services/T000/B000/XXXX",
    "discord": "discord:https://discord.com/api/webhooks/123/abc",
    "email": "email:ops@example.com",
    "pagerduty": "pagerduty:0123456789abcdef0123456789abcdef (the 32-character routing key)",
    "apprise": "apprise:ntfy://ntfy.sh/my-topic or apprise:json://host:8080/path",
    "telegram": "telegram:123456789, telegram:@username or telegram:+15551234567",
}

# ----------------------------------------------------------------------------- registry


def register_channel(name: str, sender: Sender) -> None:
    """Make `name` sendable (engine.telegram calls this with its sender once its session exists)."""
    if name not in ADDRESS_CHANNELS:
        raise ValueError(f"unknown channel {name!r}: add its address rules to ADDRESS_CHANNELS")
    _registered[name] = sender
    CHANNELS.add(name)


def get_sender(channel: str) -> Sender | None:
    """The send function for a channel, importing built-in modules on first use."""
    if channel in _registered:
        return _registered[channel]
    module = _BUILTIN.get(channel)
    if module is None:
        return None
    sender: Sender = importlib.import_module(module).send
    _registered[channel] = sender
    return sender


async def send(
    channel: str, address: str, msg: OutgoingMessage, ctx: ChannelContext
) -> SendOutcome:
    """Deliver one message. Never raises: an unknown channel is a permanent failure, a known one
    with no sender yet (Telegram before login) is a temporary one, and a sender that crashes is
    reported as a retryable failure so one contact cannot break a batch."""
    if channel not in ADDRESS_CHANNELS:
        return SendOutcome(ok=False, permanent=True, error=f"unknown channel {channel[:20]}")
    sender = get_sender(channel)
    if sender is None:
        return SendOutcome(ok=False, error=f"channel {channel} is not available yet")
    try:
        return await sender(address, msg, ctx)
    except Exception as exc:  # noqa: BLE001 - the outbox needs an outcome, not a traceback
        return SendOutcome(ok=False, error=f"{channel} sender crashed: {type(exc).__name__}")


# ----------------------------------------------------------------------------- addresses

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_PD_KEY = re.compile(r"^[A-Za-z0-9]{32}$")
_TG_ID = re.compile(r"^-?\d{1,20}$")
_TG_USER = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9])$")
_TG_PHONE = re.compile(r"^\+\d{7,15}$")


def _bad(channel: str, what: str) -> BadInput:
    return BadInput(f"bad {channel} address: {what}", hint=f"example: {EXAMPLES[channel]}")


def _http_url(channel: str, address: str) -> str:
    parts = urlsplit(address)
    if parts.scheme.lower() not in ("http", "https"):
        raise _bad(channel, "expected an http:// or https:// URL")
    if not parts.hostname:
        raise _bad(channel, "the URL has no host")
    try:
        _ = parts.port
    except ValueError:
        raise _bad(channel, "the URL's port is not a number from 1 to 65535") from None
    if any(c.isspace() for c in address):
        raise _bad(channel, "the URL contains spaces")
    return address


def _webhook(address: str) -> str:
    url = _http_url("webhook", address)
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key == "format" and value.lower() not in ("sysalert", "alertmanager"):
            raise _bad("webhook", "format= must be sysalert or alertmanager")
    return url


def _discord(address: str) -> str:
    url = _http_url("discord", address)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    is_discord = host.endswith(("discord.com", "discordapp.com"))
    if is_discord and not re.match(r"^/api(?:/v\d+)?/webhooks/\d+/[\w-]+/?$", parts.path):
        raise _bad("discord", "a Discord webhook URL ends in /api/webhooks/<id>/<token>")
    return url


def _slack(address: str) -> str:
    """Slack's own incoming webhooks only: anything else would get Slack's body and fail on the
    first alert. Slack-compatible servers have their own forms (apprise:mmost://... for
    Mattermost) or take webhook:."""
    url = _http_url("slack", address)
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or (parts.hostname or "").lower() != "hooks.slack.com":
        raise BadInput(
            "bad slack address: not a Slack webhook URL (https://hooks.slack.com/services/...)",
            hint=f"example: {EXAMPLES['slack']}; for Mattermost use apprise:mmost://HOST/TOKEN",
        )
    if not parts.path.startswith("/services/"):
        raise _bad("slack", "a Slack incoming-webhook URL starts with /services/")
    return url


def _email(address: str) -> str:
    address = address.removeprefix("mailto:")
    if not _EMAIL.match(address):
        raise _bad("email", "expected one address like name@domain.tld")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _pagerduty(address: str) -> str:
    if re.fullmatch(r"[A-Z]+(_[A-Z]+)+", address):  # ROUTING_KEY, as the README writes it
        raise _bad(
            "pagerduty",
            f"{address} is a placeholder: put your PagerDuty service's 32-character routing key"
            " there (Integrations > Events API v2 > Integration Key)",
        )
    if not _PD_KEY.match(address):
        raise _bad(
            "pagerduty", f"a routing key is 32 letters and digits (got {len(address)} characters)"
        )
    return address


def _apprise(address: str) -> str:
    if "://" not in address:
        raise _bad("apprise", "expected an Apprise URL, scheme://...")
    from engine.notify.channels.apprise import is_supported  # Apprise loads its plugins lazily

    if not is_supported(address):
        scheme = address.split("://", 1)[0][:20]
        raise _bad(
            "apprise",
            f"Apprise does not accept this {scheme}:// URL (unknown service or missing token)",
        )
    return address


def _telegram(address: str) -> str:
    compact = re.sub(r"[\s().-]", "", address) if address.startswith("+") else address
    if _TG_PHONE.match(compact):
        return compact
    if address.startswith("+"):
        raise _bad("telegram", "a phone number is + then 7 to 15 digits, country code first")
    if _TG_ID.match(address):
        if int(address) == 0:
            raise _bad("telegram", "a chat id cannot be 0")
        return str(int(address))
    if m := _TG_USER.match(address):
        if "__" in m.group(1):
            raise _bad("telegram", "a username has no double underscore")
        return "@" + m.group(1).lower()
    raise _bad(
        "telegram",
        "expected a numeric chat id, @username (5-32 letters, digits, _; "
        "starts with a letter) or +phone",
    )


_VALIDATORS: dict[str, Callable[[str], str]] = {
    "webhook": _webhook,
    "slack": _slack,
    "discord": _discord,
    "email": _email,
    "pagerduty": _pagerduty,
    "apprise": _apprise,
    "telegram": _telegram,
}


def validate_address(channel: str, address: str) -> str:
    """The normalised address for `channel`, or BadInput saying what is wrong with an example."""
    channel = channel.strip().lower()
    if channel not in _VALIDATORS:
        raise BadInput(
            f"unknown channel {channel[:20]!r}", hint=f"use one of {', '.join(ADDRESS_CHANNELS)}"
        )
    address = address.strip()
    if not address:
        raise _bad(channel, "the address is empty")
    return _VALIDATORS[channel](address)


def parse_contact_address(text: str) -> tuple[str, str]:
    """Split CHANNEL:ADDRESS as typed in `contacts add NAME CHANNEL:ADDRESS` and validate it."""
    text = text.strip()
    channel, sep, address = text.partition(":")
    channel = channel.lower()
    if not sep or not channel:
        raise BadInput(
            "a contact address is CHANNEL:ADDRESS",
            hint="for example email:ops@example.com or telegram:@username",
        )
    if channel in ("http", "https"):
        raise BadInput(
            "say which channel this URL is for", hint="write webhook:URL, slack:URL or discord:URL"
        )
    if channel == "mailto":
        channel, address = "email", address
    return channel, validate_address(channel, address)
