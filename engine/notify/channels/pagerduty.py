"""PagerDuty Events API v2. The incident id is the dedup_key, so PagerDuty folds our resends,
acknowledgements and resolves into one PagerDuty incident."""

from __future__ import annotations

import httpx

from engine.notify import templates
from engine.notify.channels.webhook import encode, post_json
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome


async def send(address: str, msg: OutgoingMessage, ctx: ChannelContext) -> SendOutcome:
    """`address` is the integration's routing key. A test event is triggered and then resolved at
    once, so `notify test` proves the route without leaving a page open."""
    now = ctx.now()
    dedup = f"sysalert-test-{msg.incident_id}" if msg.kind == "test" else None
    body = templates.pagerduty_body(msg, address, now, dedup_key=dedup)
    outcome = await post_json(ctx, ctx.pagerduty_url, encode(body), inspect=_inspect)
    if outcome.ok and msg.kind == "test":
        resolve = {
            "routing_key": address,
            "event_action": "resolve",
            "dedup_key": body["dedup_key"],
            "client": "SysAlert",
        }
        await post_json(ctx, ctx.pagerduty_url, encode(resolve))
    return outcome


def _inspect(resp: httpx.Response, outcome: SendOutcome) -> None:
    """202 answers echo the dedup_key (our message id); 400 answers list what was invalid."""
    if "json" not in resp.headers.get("content-type", ""):
        return
    data = resp.json()
    if not isinstance(data, dict):
        return
    if outcome.ok:
        key = data.get("dedup_key")
        outcome.message_id = str(key)[:255] if key else None
    else:
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            outcome.add_error("; ".join(str(e) for e in errors[:3]))
