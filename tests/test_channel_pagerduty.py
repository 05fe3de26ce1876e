"""PagerDuty Events API v2 against a local receiver that checks the schema as strictly as
PagerDuty documents it (required fields, allowed actions and severities, lengths, no extras)."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from engine.notify.channels import pagerduty
from tests.test_channel_webhook import Receiver, Seen, ctx_for, json_reply, make_msg

KEY = "0123456789abcdef0123456789abcdef"
TOP = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
}
PAYLOAD = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}
SEVERITIES = {"critical", "error", "warning", "info"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def schema_errors(seen: Seen) -> list[str]:
    """Events v2 rules, as PagerDuty's docs state them."""
    if seen.path != "/v2/enqueue":
        return ["wrong path"]
    if not seen.headers.get("content-type", "").startswith("application/json"):
        return ["Content-Type must be application/json"]
    try:
        ev = json.loads(seen.body)
    except ValueError:
        return ["body is not JSON"]
    errs = [f"unknown field {k}" for k in ev if k not in TOP]
    if not isinstance(ev.get("routing_key"), str) or len(ev["routing_key"]) != 32:
        errs.append("routing_key must be a 32 character string")
    action = ev.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errs.append("event_action is invalid")
    dedup = ev.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errs.append("dedup_key must be 1-255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errs.append("dedup_key is required for acknowledge and resolve")
    if action == "trigger":
        p = ev.get("payload")
        if not isinstance(p, dict):
            return [*errs, "payload is required for trigger"]
        errs += [f"unknown payload field {k}" for k in p if k not in PAYLOAD]
        if not isinstance(p.get("summary"), str) or not 0 < len(p["summary"]) <= 1024:
            errs.append("payload.summary must be 1-1024 characters")
        if not isinstance(p.get("source"), str) or not p["source"]:
            errs.append("payload.source is required")
        if p.get("severity") not in SEVERITIES:
            errs.append("payload.severity must be critical, error, warning or info")
        if "timestamp" in p:
            try:
                datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00"))
            except (ValueError, AttributeError):
                errs.append("payload.timestamp must be ISO 8601")
        if "custom_details" in p and not isinstance(p["custom_details"], dict):
            errs.append("payload.custom_details must be an object")
    return errs


def strict(seen: Seen):
    errs = schema_errors(seen)
    if errs:
        return json_reply(
            400, {"status": "invalid event", "message": "Event object is invalid", "errors": errs}
        )
    ev = json.loads(seen.body)
    return json_reply(
        202,
        {
            "status": "success",
            "message": "Event processed",
            "dedup_key": ev.get("dedup_key") or "generated-key",
        },
    )


def pd_ctx(http, rx: Receiver):
    return ctx_for(http, pagerduty_url=rx.url + "/v2/enqueue")


@pytest.mark.anyio
async def test_receiver_rejects_a_bad_event(http) -> None:
    """The validator is real: a body missing what PagerDuty requires gets a 400."""
    with Receiver(strict) as rx:
        bad = {
            "routing_key": KEY,
            "event_action": "trigger",
            "payload": {"summary": "x", "severity": "fatal"},
        }
        resp = await http.post(rx.url + "/v2/enqueue", json=bad)
    assert resp.status_code == 400
    assert "payload.source is required" in resp.json()["errors"]


@pytest.mark.anyio
async def test_trigger_event_schema_and_severity_mapping(http) -> None:
    with Receiver(strict) as rx:
        outs = [
            await pagerduty.send(KEY, make_msg(severity=s), pd_ctx(http, rx))
            for s in ("critical", "high", "medium", "low")
        ]
    assert all(o.ok for o in outs), [o.error for o in outs]
    assert outs[0].message_id == "inc-7"
    events = [r.json() for r in rx.requests]
    assert [e["payload"]["severity"] for e in events] == ["critical", "error", "warning", "info"]
    ev = events[0]
    assert ev["event_action"] == "trigger" and ev["dedup_key"] == "inc-7"
    assert ev["routing_key"] == KEY
    p = ev["payload"]
    assert p["source"] == "target:3f9a1c2e"
    assert "10.0.0.5" not in p["source"] and "10.0.0.5" not in p["summary"]
    assert p["summary"].startswith("[CRITICAL] DOWN db-primary")
    assert p["component"] == "db-primary" and p["timestamp"] == "2024-05-01T12:06:00Z"
    assert p["custom_details"]["incident_id"] == "inc-7"


@pytest.mark.anyio
async def test_acknowledge_and_resolve_share_the_dedup_key(http) -> None:
    with Receiver(strict) as rx:
        ack = await pagerduty.send(KEY, make_msg("acknowledged"), pd_ctx(http, rx))
        res = await pagerduty.send(KEY, make_msg("resolved", state="up"), pd_ctx(http, rx))
    assert ack.ok and res.ok, (ack.error, res.error)
    a, r = rx.requests[0].json(), rx.requests[1].json()
    assert a["event_action"] == "acknowledge" and r["event_action"] == "resolve"
    assert a["dedup_key"] == r["dedup_key"] == "inc-7"


@pytest.mark.anyio
async def test_test_message_triggers_then_resolves(http) -> None:
    with Receiver(strict) as rx:
        out = await pagerduty.send(KEY, make_msg("test", incident_id="t1"), pd_ctx(http, rx))
    assert out.ok
    trig, res = (r.json() for r in rx.requests)
    assert trig["event_action"] == "trigger" and trig["payload"]["severity"] == "info"
    assert res["event_action"] == "resolve" and res["dedup_key"] == trig["dedup_key"]
    assert res["dedup_key"] != "t1"  # a test never touches a real incident's dedup key


@pytest.mark.anyio
async def test_invalid_event_is_permanent_and_throttling_retries(http) -> None:
    with Receiver(strict) as rx:
        bad = await pagerduty.send("short-key", make_msg(), pd_ctx(http, rx))
    assert not bad.ok and bad.permanent
    assert "routing_key must be a 32 character string" in bad.error
    with Receiver(lambda _s: json_reply(429, {"status": "throttle event"})) as rx:
        slow = await pagerduty.send(KEY, make_msg(), pd_ctx(http, rx))
    assert not slow.ok and not slow.permanent
    with Receiver(lambda _s: (502, {}, b"bad gateway")) as rx:
        down = await pagerduty.send(KEY, make_msg(), pd_ctx(http, rx))
    assert not down.ok and not down.permanent
