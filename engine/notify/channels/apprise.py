"""Apprise: ntfy, Pushover, Matrix, Teams, SMS gateways and a hundred more through one URL.

Apprise URLs embed tokens and passwords, so they are secrets: never logged, never in an error.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import apprise

from engine.notify import templates
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome

_STATUS = re.compile(r"error=(\d{3})\b")


def is_supported(url: str) -> bool:
    """True when Apprise knows the scheme and the URL parses (no network involved)."""
    return bool(apprise.Apprise().add(url))


def _reason(result: Any) -> tuple[str, int | None]:
    """A safe reason from Apprise's own record (Apprise >= 2 keeps warnings on the result). Its
    text can name the host, so only an HTTP status or a coarse class is kept."""
    logs = getattr(result, "logs", None)
    if not callable(logs):
        return "", None
    text = ""
    try:
        for entry in logs():
            if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL"):
                text += " " + str(getattr(entry, "message", ""))
    except Exception:  # noqa: BLE001 - a diagnostics helper must not fail a send
        return "", None
    if m := _STATUS.search(text):
        return f"HTTP {m.group(1)}", int(m.group(1))
    lowered = text.lower()
    for needle, label in (
        ("timed out", "timeout"),
        ("timeout", "timeout"),
        ("refused", "connection refused"),
        ("ssl", "tls"),
        ("name or service", "dns"),
        ("resolve", "dns"),
        ("connection", "connection failed"),
    ):
        if needle in lowered:
            return label, None
    return "", None


async def send(address: str, msg: OutgoingMessage, ctx: ChannelContext) -> SendOutcome:
    """Title = marker and headline; body = the rest of the plain text. Apprise does not tell a
    bad token from a down server, so failures are retried unless the URL itself is unusable."""
    now = ctx.now()
    client = apprise.Apprise()
    if not client.add(address):
        return SendOutcome(ok=False, permanent=True, error="apprise URL not supported or malformed")
    text = templates.render_text(msg, now)
    title, _, body = text.partition("\n")
    try:
        with anyio.fail_after(ctx.timeout + 5):
            result = await client.async_notify(
                body=body or title, title=title, notify_type=templates.apprise_type(msg)
            )
    except TimeoutError:
        return SendOutcome(ok=False, error="apprise delivery timed out")
    except Exception as exc:  # noqa: BLE001 - plugins raise anything; their text may hold the URL
        return SendOutcome(ok=False, error=f"apprise failed: {type(exc).__name__}")
    if bool(result):
        return SendOutcome(ok=True)
    reason, status = _reason(result)
    # A 4xx from the service means the token or address is wrong: resending will not help.
    permanent = status is not None and 400 <= status < 500 and status not in (408, 425, 429)
    return SendOutcome(
        ok=False,
        permanent=permanent,
        error=f"apprise delivery failed{': ' + reason if reason else ''}",
    )
