"""The attach client's argument handling, at httpx's transport boundary: no field is ever dropped
silently (a dropped field once lost the form's down-after count in attached mode)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine.api.client import RemoteCommands

pytestmark = pytest.mark.anyio


def _client(seen: list[dict[str, Any]]) -> RemoteCommands:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content or b"{}"))
        return httpx.Response(200, json={"id": "abcdefgh", "name": "x"})

    return RemoteCommands("http://sysalert", transport=httpx.MockTransport(handle))


def test_known_fields_travel_and_local_only_ones_stay_home() -> None:
    seen: list[dict[str, Any]] = []
    remote = _client(seen)
    remote.add_target("tcp://127.0.0.1:9", name="x", failure_threshold=3, owner_id="sub1")
    assert seen == [{"spec": "tcp://127.0.0.1:9", "name": "x", "failure_threshold": 3}]


def test_an_unknown_field_is_an_error_not_a_silent_drop() -> None:
    seen: list[dict[str, Any]] = []
    remote = _client(seen)
    with pytest.raises(TypeError, match="no field \\['down_after'\\]"):
        remote.add_target("tcp://127.0.0.1:9", down_after=3)
    assert seen == []  # nothing was sent


async def test_telegram_login_over_connect_says_where_to_run_it() -> None:
    from engine.errors import SysAlertError

    remote = _client([])  # like --connect: no local store behind this client
    with pytest.raises(SysAlertError, match="cannot run over --connect") as exc:
        await remote.telegram_login(prompts=None)
    assert "sysalert telegram login" in (exc.value.hint or "")
