"""Slack and Discord incoming webhooks against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json

import httpx
import pytest

from engine.notify.channels import discord, slack
from tests.test_channel_webhook import Receiver, ctx_for, json_reply, make_msg


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def _slack_ok(seen) -> tuple[int, dict[str, str], bytes]:
    body = json.loads(seen.body)
    # What Slack itself insists on: a text fallback, and blocks of known types.
    if not isinstance(body.get("text"), str) or not body["text"]:
        return 400, {}, b"invalid_payload"
    for att in body.get("attachments", []):
        for block in att["blocks"]:
            if block["type"] not in ("section", "context") or len(json.dumps(block)) > 3500:
                return 400, {}, b"invalid_blocks"
    return 200, {"Content-Type": "text/plain"}, b"ok"


@pytest.mark.anyio
async def test_slack_body_is_severity_coloured(http) -> None:
    with Receiver(_slack_ok) as rx:
        crit = await slack.send(rx.url + "/services/T/B/X", make_msg(), ctx_for(http))
        low = await slack.send(rx.url, make_msg(severity="low"), ctx_for(http))
        done = await slack.send(rx.url, make_msg("resolved", state="up"), ctx_for(http))
    assert crit.ok and low.ok and done.ok
    body = rx.requests[0].json()
    assert "[CRITICAL] DOWN db-primary since 12:03 UTC (3m)" in body["text"]
    att = body["attachments"][0]
    assert att["color"] == "#D32F2F"
    flat = json.dumps(att["blocks"])
    assert "inc-7" in flat and "/ack inc-7" in flat and "timeout" in flat
    assert rx.requests[1].json()["attachments"][0]["color"] == "#1976D2"
    resolved = rx.requests[2].json()
    assert resolved["attachments"][0]["color"] == "#2E7D32"
    assert "[RESOLVED]" in resolved["text"] and "/ack" not in json.dumps(resolved)


@pytest.mark.anyio
async def test_slack_escapes_markup_in_names(http) -> None:
    with Receiver(_slack_ok) as rx:
        out = await slack.send(rx.url, make_msg(target_name="<!channel> & co"), ctx_for(http))
    assert out.ok
    text = rx.requests[0].json()["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co" in text


@pytest.mark.anyio
async def test_slack_429_retry_after_and_dead_hook_is_permanent(http) -> None:
    replies = iter([(429, {"Retry-After": "30"}, b"rate_limited"), (404, {}, b"no_service")])
    with Receiver(lambda _s: next(replies)) as rx:
        limited = await slack.send(rx.url, make_msg(), ctx_for(http))
        gone = await slack.send(rx.url, make_msg(), ctx_for(http))
    assert not limited.ok and not limited.permanent and limited.retry_after == 30.0
    assert not gone.ok and gone.permanent and "no_service" in gone.error


def _discord_ok(seen):
    body = seen.json()
    emb = body["embeds"][0]
    if len(body["content"]) > 2000 or len(emb["title"]) > 256 or not isinstance(emb["color"], int):
        return json_reply(400, {"code": 50035, "message": "Invalid Form Body"})
    return json_reply(200, {"id": "1234567890123456789", "channel_id": "42"})


@pytest.mark.anyio
async def test_discord_embed_colour_wait_and_message_id(http) -> None:
    with Receiver(_discord_ok) as rx:
        out = await discord.send(
            rx.url + "/api/webhooks/1/tok?thread_id=9", make_msg(), ctx_for(http)
        )
        med = await discord.send(rx.url, make_msg(severity="medium"), ctx_for(http))
    assert out.ok and out.message_id == "1234567890123456789" and med.ok
    seen = rx.requests[0]
    assert seen.query == {"thread_id": ["9"], "wait": ["true"]}
    body = seen.json()
    assert body["allowed_mentions"] == {"parse": []}
    emb = body["embeds"][0]
    assert emb["color"] == 0xD32F2F
    assert emb["title"].startswith("[CRITICAL] DOWN db-primary")
    assert emb["description"] == "connect to 10.0.0.5:5432 timed out"
    names = {f["name"]: f["value"] for f in emb["fields"]}
    assert names["Incident"] == "inc-7" and names["Error"] == "timeout"
    assert rx.requests[1].json()["embeds"][0]["color"] == 0xFBC02D


@pytest.mark.anyio
async def test_discord_long_summary_is_clipped_to_limits(http) -> None:
    with Receiver(_discord_ok) as rx:
        out = await discord.send(
            rx.url, make_msg(target_name="n" * 400, summary="x" * 9000), ctx_for(http)
        )
    assert out.ok
    emb = rx.requests[0].json()["embeds"][0]
    assert len(emb["description"]) <= 4096 and len(emb["title"]) <= 256


@pytest.mark.anyio
async def test_discord_429_uses_precise_body_wait_and_400_is_permanent(http) -> None:
    replies = iter(
        [
            json_reply(
                429,
                {"message": "You are being rate limited.", "retry_after": 1.25, "global": False},
                {"Retry-After": "2"},
            ),
            json_reply(400, {"code": 50035, "message": "Invalid Form Body"}),
        ]
    )
    with Receiver(lambda _s: next(replies)) as rx:
        limited = await discord.send(rx.url, make_msg(), ctx_for(http))
        bad = await discord.send(rx.url, make_msg(), ctx_for(http))
    assert not limited.ok and not limited.permanent and limited.retry_after == 1.25
    assert not bad.ok and bad.permanent and "Invalid Form Body" in bad.error
