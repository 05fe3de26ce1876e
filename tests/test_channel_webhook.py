"""Generic webhook channel against a real HTTP receiver on 127.0.0.1.

Also holds `Receiver`, the small threaded HTTP server the other channel tests reuse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from engine.notify import channels
from engine.notify.channels import webhook
from engine.notify.message import ChannelContext, OutgoingMessage

NOW = datetime(2024, 5, 1, 12, 6, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


Reply = tuple[int, dict[str, str], bytes]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers via `respond`."""

    def __init__(self, respond: Callable[[Seen], Reply] | None = None) -> None:
        self.requests: list[Seen] = []
        self.respond = respond or (lambda _seen: (200, {}, b"ok"))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                outer.requests.append(seen)
                status, headers, body = outer.respond(seen)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_reply(status: int, data: object, headers: dict[str, str] | None = None) -> Reply:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(data).encode(),
    )


def make_msg(kind: str = "alert", severity: str = "critical", **kw: object) -> OutgoingMessage:
    fields: dict = dict(
        kind=kind,
        incident_id="inc-7",
        severity=severity,
        target_name="db-primary",
        target_ref="target:3f9a1c2e",
        state="down",
        since=NOW - timedelta(minutes=3),
        error_class="timeout",
        summary="connect to 10.0.0.5:5432 timed out",
        level=1,
    )
    fields.update(kw)
    return OutgoingMessage(**fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def ctx_for(http: httpx.AsyncClient, **kw: object) -> ChannelContext:
    return ChannelContext(http=http, now=lambda: NOW, timeout=3.0, **kw)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_body_schema_and_hmac_signature_verifies(http) -> None:
    secret = "s3cret-key"
    with Receiver() as rx:
        out = await webhook.send(rx.url + "/hook", make_msg(), ctx_for(http, webhook_secret=secret))
    assert out.ok and not out.permanent
    seen = rx.requests[0]
    assert seen.path == "/hook"
    assert seen.headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(secret.encode(), seen.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(seen.headers["x-sysalert-signature"], expected)
    wrong = "sha256=" + hmac.new(b"other", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["x-sysalert-signature"] != wrong
    body = seen.json()
    assert body["version"] == "1"
    assert body["kind"] == "alert" and body["incident_id"] == "inc-7"
    assert body["severity"] == "critical" and body["state"] == "down"
    assert body["target_name"] == "db-primary" and body["target_ref"] == "target:3f9a1c2e"
    assert body["since"] == "2024-05-01T12:03:00Z"
    assert body["error_class"] == "timeout"
    assert body["summary"] == "connect to 10.0.0.5:5432 timed out"
    assert body["text"].startswith("[CRITICAL] DOWN db-primary since 12:03 UTC (3m)")
    # The timestamp header is inside the signed body too, so it cannot be swapped.
    assert seen.headers["x-sysalert-timestamp"] == str(int(NOW.timestamp()))
    assert body["sent_at"] == "2024-05-01T12:06:00Z"
    assert seen.headers["idempotency-key"] == "inc-7-alert-1"


@pytest.mark.anyio
async def test_no_secret_means_no_signature_and_reminders_get_distinct_keys(http) -> None:
    with Receiver() as rx:
        await webhook.send(rx.url, make_msg("reminder", extra={"seq": 2}), ctx_for(http))
        await webhook.send(rx.url, make_msg("escalation", level=2), ctx_for(http))
    assert "x-sysalert-signature" not in rx.requests[0].headers
    assert rx.requests[0].headers["idempotency-key"] == "inc-7-reminder-1-2"
    assert rx.requests[1].headers["idempotency-key"] == "inc-7-escalation-2"


@pytest.mark.anyio
async def test_alertmanager_shape_and_flag_is_stripped(http) -> None:
    with Receiver() as rx:
        url = rx.url + "/am?team=ops&format=alertmanager"
        assert (await webhook.send(url, make_msg(), ctx_for(http))).ok
        assert (await webhook.send(url, make_msg("resolved", state="up"), ctx_for(http))).ok
    firing, resolved = rx.requests[0], rx.requests[1]
    assert firing.query == {"team": ["ops"]}
    body = firing.json()
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["receiver"] and body["groupKey"]
    for key in (
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "truncatedAlerts",
    ):
        assert key in body
    (alert,) = body["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["alertname"] and alert["labels"]["severity"] == "critical"
    assert alert["labels"]["target"] == "db-primary"
    assert "DOWN db-primary" in alert["annotations"]["summary"]
    assert alert["startsAt"] == "2024-05-01T12:03:00Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert len(alert["fingerprint"]) == 16
    done = resolved.json()
    assert done["status"] == "resolved" and done["alerts"][0]["status"] == "resolved"
    assert done["alerts"][0]["endsAt"] == "2024-05-01T12:06:00Z"
    assert done["alerts"][0]["fingerprint"] == alert["fingerprint"]


@pytest.mark.anyio
async def test_status_mapping_500_404_429(http) -> None:
    replies = iter(
        [
            (500, {}, b"boom"),
            (404, {}, b"nope"),
            (429, {"Retry-After": "7"}, b""),
            (503, {"Retry-After": "Wed, 01 May 2999 12:00:00 GMT"}, b""),
            json_reply(200, {"id": "rcv-123"}),
        ]
    )
    with Receiver(lambda _s: next(replies)) as rx:
        e500 = await webhook.send(rx.url, make_msg(), ctx_for(http))
        e404 = await webhook.send(rx.url, make_msg(), ctx_for(http))
        e429 = await webhook.send(rx.url, make_msg(), ctx_for(http))
        e503 = await webhook.send(rx.url, make_msg(), ctx_for(http))
        good = await webhook.send(rx.url, make_msg(), ctx_for(http))
    assert not e500.ok and not e500.permanent and "500" in e500.error
    assert not e404.ok and e404.permanent
    assert not e429.ok and not e429.permanent and e429.retry_after == 7.0
    assert not e503.ok and not e503.permanent and e503.retry_after and e503.retry_after > 1e9
    assert good.ok and good.message_id == "rcv-123"


@pytest.mark.anyio
async def test_refused_connection_is_retryable_and_error_names_no_address(http) -> None:
    port = free_port()
    out = await webhook.send(f"http://127.0.0.1:{port}/x", make_msg(), ctx_for(http))
    assert not out.ok and not out.permanent and out.error
    assert "127.0.0.1" not in out.error and str(port) not in out.error


@pytest.mark.anyio
async def test_registry_send_dispatches_and_reports_unknown_or_unregistered(http) -> None:
    with Receiver() as rx:
        out = await channels.send("webhook", rx.url, make_msg("test"), ctx_for(http))
    assert out.ok and rx.requests[0].json()["kind"] == "test"
    unknown = await channels.send("carrier-pigeon", "x", make_msg(), ctx_for(http))
    assert not unknown.ok and unknown.permanent
    if "telegram" not in channels.CHANNELS:  # until engine.telegram registers its sender
        later = await channels.send("telegram", "@someone", make_msg(), ctx_for(http))
        assert not later.ok and not later.permanent
