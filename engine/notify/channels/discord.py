"""Discord webhooks. `?wait=true` makes Discord answer with the message, so the outbox records
its id; 429 answers carry the wait in the body as well as in headers."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from engine.notify import templates
from engine.notify.channels.webhook import encode, post_json
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome


def with_wait(address: str) -> str:
    """Add wait=true unless the user set wait themselves (thread_id and others are kept)."""
    parts = urlsplit(address)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "wait" for k, _ in query):
        return address
    return urlunsplit(parts._replace(query=urlencode([*query, ("wait", "true")])))


async def send(address: str, msg: OutgoingMessage, ctx: ChannelContext) -> SendOutcome:
    """POST content + a coloured embed; mentions disabled."""
    raw = encode(templates.discord_body(msg, ctx.now()))
    return await post_json(ctx, with_wait(address), raw, inspect=_inspect)


def _inspect(resp: httpx.Response, outcome: SendOutcome) -> None:
    if "json" not in resp.headers.get("content-type", ""):
        if resp.status_code == 429 and outcome.retry_after is None:
            outcome.retry_after = _float(resp.headers.get("x-ratelimit-reset-after"))
        return
    data = resp.json()
    if not isinstance(data, dict):
        return
    if outcome.ok and data.get("id") is not None:
        outcome.message_id = str(data["id"])[:64]
    elif resp.status_code == 429:
        # The body's float is more precise than the header's whole seconds.
        precise = _float(data.get("retry_after")) or _float(
            resp.headers.get("x-ratelimit-reset-after")
        )
        if precise is not None:
            outcome.retry_after = precise
    elif not outcome.ok and isinstance(data.get("message"), str):
        # Discord's message is generic ("Unknown Webhook"); its numeric code would be redacted.
        outcome.add_error(data["message"][:80])


def _float(value: object) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
