"""Slack incoming webhooks (also Mattermost and Rocket.Chat, which accept the same body)."""

from __future__ import annotations

import re

import httpx

from engine.notify import templates
from engine.notify.channels.webhook import encode, post_json
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome

# Slack answers errors with a short code (invalid_payload, no_service, channel_is_archived ...):
# safe to keep, and it tells the operator what to fix.
_CODE = re.compile(r"^[a-z_]{2,60}$")


async def send(address: str, msg: OutgoingMessage, ctx: ChannelContext) -> SendOutcome:
    """POST text + a coloured attachment. 429 carries Retry-After; 4xx means the hook is gone."""
    raw = encode(templates.slack_body(msg, ctx.now()))
    return await post_json(ctx, address, raw, inspect=_explain)


def _explain(resp: httpx.Response, outcome: SendOutcome) -> None:
    code = resp.text.strip()
    if not outcome.ok and _CODE.match(code):
        outcome.add_error(code)
