"""The attach client's argument handling, at httpx's transport boundary: no field is ever dropped
silently (a dropped field once lost the form's down-after count in attached mode)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest

from engine.api.client import RemoteCommands
from engine.core.domain import TargetRecord
from engine.core.errors import NotFound, SysAlertError

pytestmark = pytest.mark.anyio

BEAT = TargetRecord("abcdefgh", "x", "heartbeat://x?every=1h", "heartbeat", token="tok3n")


def _answer(request: httpx.Request) -> httpx.Response:
    """What a daemon answers: a target (the list of them) on /targets, else "not found" (these
    tests look at what is sent; an answer must still read as the command's return type)."""
    path = request.url.path
    if path.startswith("/api/v1/targets"):
        one = BEAT.public("http://daemon:8787")
        return httpx.Response(
            200, json=[one] if path == "/api/v1/targets" and request.method == "GET" else one
        )
    return httpx.Response(404, json={"error": "no such thing", "hint": None})


def _client(seen: list[dict[str, Any]], actors: list[str | None] | None = None) -> RemoteCommands:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content or b"{}"))
        if actors is not None:
            actors.append(request.headers.get("x-sysalert-actor"))
        return _answer(request)

    return RemoteCommands("http://sysalert", transport=httpx.MockTransport(handle))


def test_known_fields_travel_and_local_only_ones_stay_home() -> None:
    seen: list[dict[str, Any]] = []
    remote = _client(seen)
    remote.add_target("tcp://127.0.0.1:9", name="x", failure_threshold=3, owner_id="sub1")
    assert seen == [{"spec": "tcp://127.0.0.1:9", "name": "x", "failure_threshold": 3}]


def test_the_actor_travels_in_the_body_or_a_header_never_lost() -> None:
    """ack has a `by` field; maintenance and target removal take the person in a header. The
    console and CLI name it once, through ActingAs, for every audited command."""
    from engine.api.acting import ActingAs

    seen: list[dict[str, Any]] = []
    actors: list[str | None] = []
    remote = _client(seen, actors)
    with contextlib.suppress(NotFound):
        remote.ack_incident("inc1", by="bob")
    with contextlib.suppress(NotFound):
        remote.maintenance_on("db", by="alice")
    acting = ActingAs(remote, "Zoë Ops")
    acting.remove_target("db")
    with contextlib.suppress(NotFound):
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
    remote = _client([])  # like --connect: no local store behind this client
    with pytest.raises(SysAlertError, match="cannot run over --connect") as exc:
        await remote.telegram_login(prompts=None)
    assert "sysalert telegram login" in (exc.value.hint or "")


def test_answers_come_back_as_the_commands_return_types() -> None:
    """Attached, a command returns what it returns embedded (its return annotation): a target is
    a TargetRecord whose public form is the daemon's, ping URL (its listener) included."""
    from engine.api import wire

    remote = _client([])
    rec = remote.get_target("x")
    assert isinstance(rec, wire.return_type("get_target"))
    # printed again (CLI --json), it is what the daemon sent: its ping URL, not this side's guess
    again = json.loads(wire.encode("get_target", rec, "http://elsewhere"))
    assert again == BEAT.public("http://daemon:8787")
    listed = remote.list_targets()
    assert [type(r) for r in listed] == [type(rec)] and listed[0] == rec
    with pytest.raises(NotFound, match="no such thing"):
        remote.ack_incident("inc1")


def test_an_answer_that_does_not_fit_the_return_type_is_a_clear_error() -> None:
    remote = RemoteCommands(
        "http://sysalert",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"id": "t"})),
    )
    with pytest.raises(SysAlertError, match="answer to get_target does not read: name"):
        remote.get_target("t")
    with pytest.raises(SysAlertError, match="answer to list_targets does not read"):
        remote.list_targets()


def test_the_openapi_answers_are_the_return_types_the_client_decodes() -> None:
    """/openapi.json's 200 bodies come from the same adapters: a target route refers to one
    Target schema (the public form), a dict[str, float] route says its values are numbers."""
    from engine.api.schema import openapi

    doc = openapi()
    listed = doc["paths"]["/api/v1/targets"]["get"]["responses"]["200"]["content"]
    assert listed["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Target"},
    }
    target = doc["components"]["schemas"]["Target"]
    assert {"spec", "symbol", "state"} <= set(target["required"])
    assert "token" not in target["properties"] and "spec_text" not in target["properties"]
    up = doc["paths"]["/api/v1/uptimes"]["get"]["responses"]["200"]["content"]
    assert up["application/json"]["schema"]["additionalProperties"] == {"type": "number"}
