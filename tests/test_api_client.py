"""The attach client's argument handling, at httpx's transport boundary: no field is ever dropped
silently (a dropped field once lost the form's down-after count in attached mode)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine.api.client import RemoteCommands

pytestmark = pytest.mark.anyio


def _client(seen: list[dict[str, Any]], actors: list[str | None] | None = None) -> RemoteCommands:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content or b"{}"))
        if actors is not None:
            actors.append(request.headers.get("x-sysalert-actor"))
        return httpx.Response(200, json={"id": "abcdefgh", "name": "x"})

    return RemoteCommands("http://sysalert", transport=httpx.MockTransport(handle))


def test_known_fields_travel_and_local_only_ones_stay_home() -> None:
    seen: list[dict[str, Any]] = []
    remote = _client(seen)
    remote.add_target("tcp://127.0.0.1:9", name="x", failure_threshold=3, owner_id="sub1")
    assert seen == [{"spec": "tcp://127.0.0.1:9", "name": "x", "failure_threshold": 3}]


def test_the_actor_travels_in_the_body_or_a_header_never_lost() -> None:
    """ack has a `by` field; maintenance and target removal take the person in a header. The
    console and CLI name it once, through ActingAs, for every audited command."""
    from engine.commands.acting import ActingAs

    seen: list[dict[str, Any]] = []
    actors: list[str | None] = []
    remote = _client(seen, actors)
    remote.ack_incident("inc1", by="bob")
    remote.maintenance_on("db", by="alice")
    acting = ActingAs(remote, "Zoë Ops")
    acting.remove_target("db")
    acting.maintenance_off("db", by="dave")  # a named person wins over the default
    acting.list_targets()  # a query records no one
    assert seen[:2] == [{"by": "bob"}, {"what": "db"}]
    assert actors == [None, "alice", "Zo%C3%AB%20Ops", "dave", None]


def test_an_unknown_field_is_an_error_not_a_silent_drop() -> None:
    seen: list[dict[str, Any]] = []
    remote = _client(seen)
    with pytest.raises(TypeError, match="no field \\['down_after'\\]"):
        remote.add_target("tcp://127.0.0.1:9", down_after=3)
    assert seen == []  # nothing was sent


async def test_telegram_login_over_connect_says_where_to_run_it() -> None:
    from engine.core.errors import SysAlertError

    remote = _client([])  # like --connect: no local store behind this client
    with pytest.raises(SysAlertError, match="cannot run over --connect") as exc:
        await remote.telegram_login(prompts=None)
    assert "sysalert telegram login" in (exc.value.hint or "")
