"""Generic webhook: our JSON schema (or Alertmanager's), signed with HMAC-SHA256.

Also home of post_json(), the one HTTP POST the JSON channels share, so they all map statuses,
Retry-After and transport errors the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from engine.notify import templates
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome

USER_AGENT = "SysAlert-Notify/1"
FORMAT_FLAG = "format"
FORMATS = ("sysalert", "alertmanager")

# Reads a response into the outcome (message id, a provider's error code, its own retry hint).
Inspect = Callable[[httpx.Response, SendOutcome], None]


def encode(body: Any) -> bytes:
    """Compact, stable JSON: the signature is over exactly these bytes."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sign(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def split_format(address: str) -> tuple[str, str]:
    """Take our `format=` flag out of the URL; the receiver never sees it."""
    parts = urlsplit(address)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flags = [v.lower() for k, v in query if k == FORMAT_FLAG and v.lower() in FORMATS]
    if not flags:
        return address, "sysalert"  # untouched: re-encoding could change the receiver's query
    kept = [(k, v) for k, v in query if not (k == FORMAT_FLAG and v.lower() in FORMATS)]
    return urlunsplit(parts._replace(query=urlencode(kept))), flags[-1]


async def post_json(
    ctx: ChannelContext,
    url: str,
    raw: bytes,
    headers: dict[str, str] | None = None,
    inspect: Inspect | None = None,
) -> SendOutcome:
    """POST raw JSON; never raises for a delivery failure. Errors carry no URL (redacted)."""
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    try:
        resp = await ctx.http.post(url, content=raw, headers=all_headers, timeout=ctx.timeout)
    except httpx.InvalidURL as exc:
        return SendOutcome.from_exception(exc, permanent=True)
    except (httpx.HTTPError, OSError) as exc:
        return SendOutcome.from_exception(exc)
    outcome = SendOutcome.from_http(resp.status_code, resp.headers)
    if inspect is not None:
        # An odd body never turns a delivered message into a failure.
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            inspect(resp, outcome)
    return outcome


async def send(address: str, msg: OutgoingMessage, ctx: ChannelContext) -> SendOutcome:
    """POST the incident as JSON. Receivers verify X-SysAlert-Signature over the raw body and
    drop duplicates by Idempotency-Key (the outbox may resend after a crash)."""
    url, fmt = split_format(address)
    now = ctx.now()
    if fmt == "alertmanager":
        body = templates.alertmanager_body(msg, now)
    else:
        body = templates.webhook_body(msg, now)
    raw = encode(body)
    timestamp = str(int(templates.utc(now).timestamp()))
    headers = {
        "Idempotency-Key": templates.idempotency_key(msg),
        "X-SysAlert-Timestamp": timestamp,
        "X-SysAlert-Incident": msg.incident_id,
    }
    if ctx.webhook_secret:
        headers["X-SysAlert-Signature"] = sign(ctx.webhook_secret, raw)
    return await post_json(ctx, url, raw, headers, inspect=_response_id)


def _response_id(resp: httpx.Response, outcome: SendOutcome) -> None:
    """Receivers that answer {"id": ...} give the outbox something to show."""
    if outcome.ok and "json" in resp.headers.get("content-type", ""):
        data = resp.json()
        value = data.get("id") if isinstance(data, dict) else None
        outcome.message_id = str(value)[:200] if value is not None else None
