"""Apprise channel through Apprise's json:// schema to a local HTTP receiver."""

from __future__ import annotations

import httpx
import pytest

from engine.notify.channels import apprise as apprise_channel
from tests.test_channel_webhook import Receiver, ctx_for, free_port, make_msg


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def _json_url(rx: Receiver, path: str = "/apprise-hook") -> str:
    return rx.url.replace("http://", "json://") + path


@pytest.mark.anyio
async def test_apprise_json_delivers_title_body_and_type(http) -> None:
    with Receiver() as rx:
        crit = await apprise_channel.send(_json_url(rx), make_msg(), ctx_for(http))
        done = await apprise_channel.send(
            _json_url(rx), make_msg("resolved", state="up"), ctx_for(http)
        )
    assert crit.ok and done.ok, (crit.error, done.error)
    seen = rx.requests[0]
    assert seen.path == "/apprise-hook"
    body = seen.json()
    assert body["title"] == "[CRITICAL] DOWN db-primary since 12:03 UTC (3m)"
    assert "Incident: inc-7" in body["message"] and "Reply ack or /ack inc-7" in body["message"]
    assert body["type"] == "failure"
    assert rx.requests[1].json()["type"] == "success"


@pytest.mark.anyio
async def test_apprise_server_error_retries_and_error_hides_the_url(http) -> None:
    with Receiver(lambda _s: (500, {}, b"boom")) as rx:
        url = _json_url(rx)
        out = await apprise_channel.send(url, make_msg(), ctx_for(http))
    assert rx.requests, "apprise must have reached the receiver"
    assert not out.ok and not out.permanent and "500" in out.error
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert "json://" not in out.error and "127.0.0.1" not in out.error and port not in out.error


@pytest.mark.anyio
async def test_apprise_4xx_is_permanent_and_refused_connection_retries(http) -> None:
    with Receiver(lambda _s: (401, {}, b"no")) as rx:
        denied = await apprise_channel.send(_json_url(rx), make_msg(), ctx_for(http))
    assert not denied.ok and denied.permanent
    port = free_port()
    down = await apprise_channel.send(f"json://127.0.0.1:{port}/x", make_msg(), ctx_for(http))
    assert not down.ok and not down.permanent and str(port) not in down.error


@pytest.mark.anyio
async def test_apprise_unknown_scheme_is_permanent(http) -> None:
    out = await apprise_channel.send("nosuchservice://token@x", make_msg(), ctx_for(http))
    assert not out.ok and out.permanent and "nosuchservice" not in out.error
