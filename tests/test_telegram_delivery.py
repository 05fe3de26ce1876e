"""Sending alerts and resolved notices: real SendMessageRequest/EditMessageRequest objects on the
wire, real RPC errors back, and the outcome the outbox acts on."""

from __future__ import annotations

import pytest
from telethon.tl.functions.contacts import ImportContactsRequest, ResolveUsernameRequest
from telethon.tl.functions.messages import EditMessageRequest, SendMessageRequest
from telethon.tl.types import InputPeerChannel, InputPeerUser, InputReplyToMessage

from engine.core.errors import BadInput
from engine.notify.message import SendOutcome
from engine.telegram.delivery import (
    chat_id_of,
    check_ref,
    edit_or_reply_resolved,
    input_peer_from_resolved,
    resolve_peer,
    send_alert,
)
from tests.telegram_harness import FakeTelegram, connected


@pytest.fixture
def server():
    s = FakeTelegram()
    s.add_user(777001, username="alice_oncall", phone="447700900123")
    s.add_user(777002, phone="447700900456", contact=True)
    yield s
    assert s.bugs == [] and s.unhandled == []


@pytest.mark.anyio
async def test_send_by_username_returns_message_id_and_a_reusable_peer(server):
    alice = server.users[777001]
    async with connected(server) as client:
        out = await send_alert(client, "@alice_oncall", "CRITICAL web1 down since 10:02")
        assert isinstance(out, SendOutcome) and out.ok and out.message_id == "1"
        assert out.resolved == f"user:777001:{alice.access_hash}"
        sent = server.requests_of(SendMessageRequest)
        assert len(sent) == 1 and isinstance(sent[0], SendMessageRequest)
        assert sent[0].peer == InputPeerUser(777001, alice.access_hash)
        assert sent[0].message == "CRITICAL web1 down since 10:02" and sent[0].no_webpage
        # Next time the caller passes the sealed resolved peer: no username lookup at all.
        again = await send_alert(client, out.resolved, "reminder", reply_to=1)
        assert again.ok and again.message_id == "2"
        assert len(server.requests_of(ResolveUsernameRequest)) == 1
        assert server.requests_of(SendMessageRequest)[1].reply_to == InputReplyToMessage(
            reply_to_msg_id=1
        )
    assert [m.message for m in server.sent] == ["CRITICAL web1 down since 10:02", "reminder"]


@pytest.mark.anyio
async def test_phone_contacts_resolve_through_contacts_or_import(server):
    async with connected(server) as client:
        known = await resolve_peer(client, "+44 7700 900456")  # already a contact
        assert known.startswith("user:777002:")
        assert not server.requests_of(ImportContactsRequest)
        imported = await resolve_peer(client, "+447700900123")  # not yet a contact
        imported_request = server.requests_of(ImportContactsRequest)[0]
        assert imported_request.contacts[0].phone == "+447700900123"
        assert imported == f"user:777001:{server.users[777001].access_hash}"
        by_id = await resolve_peer(client, "777002")  # a contact: found by bare id
        assert by_id == known
        nobody = await send_alert(client, "+447700900999", "hello")
    assert nobody.permanent and "no Telegram account" in nobody.error


@pytest.mark.anyio
async def test_flood_wait_gives_retry_after_then_the_retry_succeeds(server):
    server.fail(SendMessageRequest, "FLOOD_WAIT_3", code=420)
    async with connected(server) as client:
        first = await send_alert(client, "@alice_oncall", "alert")
        assert not first.ok and not first.permanent and first.retry_after == 3
        assert first.resolved is not None  # resolution is kept even though sending failed
        second = await send_alert(client, first.resolved, "alert")
    assert second.ok and second.message_id == "1"


@pytest.mark.anyio
async def test_long_flood_wait_is_not_slept_through(server):
    server.fail(SendMessageRequest, "FLOOD_WAIT_600", code=420)
    async with connected(server) as client:
        out = await send_alert(client, "@alice_oncall", "alert")
        # Telethon refuses locally until the wait is over: no second request reaches Telegram.
        early = await send_alert(client, out.resolved, "alert")
    assert out.retry_after == 600 and early.retry_after and early.retry_after > 590
    assert len(server.requests_of(SendMessageRequest)) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("setup", "ref", "words"),
    [
        (lambda s: s.blocked_by.add(777001), "@alice_oncall", "blocked"),
        (lambda s: s.deactivated.add(777001), "@alice_oncall", "deleted"),
        (lambda s: None, "@nobody_here", "cannot find"),
        (lambda s: None, "555000111", "cannot find"),
        (lambda s: None, "user:777001:12345", "not valid"),
    ],
)
async def test_permanent_errors(server, setup, ref, words):
    setup(server)
    async with connected(server) as client:
        out = await send_alert(client, ref, "alert")
    assert not out.ok and out.permanent and out.retry_after is None
    assert words in out.error


@pytest.mark.anyio
async def test_channel_without_write_access_is_permanent_and_errors_stay_private(server):
    channel = server.add_channel(1200300400, megagroup=False)
    server.read_only.add(-1001200300400)
    resolved = f"channel:{channel.id}:{channel.access_hash}"
    assert chat_id_of(resolved) == -1001200300400
    async with connected(server) as client:
        out = await send_alert(client, resolved, "alert")
    assert out.permanent and out.error == "the SysAlert account may not write in this chat"
    assert server.requests_of(SendMessageRequest)[0].peer == InputPeerChannel(
        channel.id, channel.access_hash
    )


@pytest.mark.anyio
async def test_network_loss_is_retryable(server):
    async with connected(server) as client:
        resolved = (await send_alert(client, "@alice_oncall", "one")).resolved
        await client.disconnect()
        out = await send_alert(client, resolved, "two")
    assert not out.ok and not out.permanent and "ConnectionError" in out.error


@pytest.mark.anyio
async def test_broken_session_calls_on_broken(server):
    reasons: list[str] = []
    async with connected(server) as client:
        server.revoke_all("SESSION_REVOKED")
        out = await send_alert(client, "@alice_oncall", "alert", on_broken=reasons.append)
    assert reasons == ["SessionRevokedError"]
    assert not out.ok and not out.permanent and "log in again" in out.error


@pytest.mark.anyio
async def test_resolved_notice_edits_the_alert_or_replies_when_it_cannot(server):
    async with connected(server) as client:
        alert = await send_alert(client, "@alice_oncall", "DOWN web1")
        edited = await edit_or_reply_resolved(client, alert.resolved, 1, "RESOLVED web1")
        assert edited.ok and edited.message_id == "1"
        edit = server.requests_of(EditMessageRequest)[0]
        assert (edit.id, edit.message) == (1, "RESOLVED web1")
        assert server.sent[0].message == "RESOLVED web1"
        server.fail(EditMessageRequest, "MESSAGE_EDIT_TIME_EXPIRED")
        replied = await edit_or_reply_resolved(client, alert.resolved, 1, "RESOLVED web1 (late)")
        assert replied.ok and replied.message_id == "2"
        assert server.requests_of(SendMessageRequest)[-1].reply_to.reply_to_msg_id == 1
        asked = await edit_or_reply_resolved(client, alert.resolved, 1, "resolved", prefer="reply")
    assert asked.message_id == "3" and len(server.requests_of(EditMessageRequest)) == 2


def test_references_are_validated_before_any_request():
    assert check_ref("+44 (7700) 900-123") == "+447700900123"
    assert check_ref("@Alice_Oncall") == "@Alice_Oncall"
    assert check_ref("-1001200300400") == "-1001200300400"
    for bad in ["", "alice", "@abc", "http://t.me/x", "user:1", "+12"]:
        with pytest.raises(BadInput):
            check_ref(bad)
    assert input_peer_from_resolved("chat:42").chat_id == 42
    with pytest.raises(BadInput):
        input_peer_from_resolved("user:1:x")
