"""Read receipts and replies: real TL updates pushed through the client's own update loop
(MessageBox pts/seq, gaps, getDifference) and event dispatch, to the handlers SysAlert registers."""

from __future__ import annotations

import asyncio

import pytest
from telethon.tl import functions
from telethon.tl.functions.messages import SendMessageRequest
from telethon.tl.functions.updates import GetDifferenceRequest
from telethon.tl.types import (
    MessageReplyHeader,
    UpdateNewMessage,
    UpdateReadChannelOutbox,
    UpdateReadHistoryOutbox,
)

from engine.telegram.chat_commands import RateLimiter, is_ack_text
from engine.telegram.delivery import chat_id_of, send_alert
from engine.telegram.inbound import attach_handlers, detach_handlers
from engine.telegram.receipts import ReadReceipt, poll_read_state, read_participants
from tests.telegram_harness import FakeTelegram, connected, settle


@pytest.fixture
def server():
    s = FakeTelegram()
    s.add_user(777001, username="alice_oncall")
    s.add_user(777002, username="bob_oncall")
    yield s
    assert s.bugs == [] and s.unhandled == []


class Recorder:
    """The engine's side: collects receipts and messages, answers like the command layer would."""

    def __init__(self, answer=None):
        self.receipts: list[ReadReceipt] = []
        self.messages = []
        self.answer = answer

    async def on_read(self, receipt):
        self.receipts.append(receipt)

    async def on_message(self, message):
        self.messages.append(message)
        return self.answer(message) if self.answer else None


@pytest.mark.anyio
async def test_outbox_read_update_reports_chat_and_max_id(server):
    rec = Recorder()
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message)
        first = await send_alert(client, "@alice_oncall", "alert 1")
        await send_alert(client, "@bob_oncall", "alert 2")
        third = await send_alert(client, first.resolved, "alert 3")
        await settle(client)
        await server.read(777001, int(first.message_id))
        await settle(client)
        await server.read(777001, int(third.message_id))
        await settle(client)
    pushed = [u for u in server.log if isinstance(u[1], UpdateReadHistoryOutbox)]
    assert len(pushed) == 2
    assert [(r.chat_id, r.max_id) for r in rec.receipts] == [(777001, 1), (777001, 3)]
    assert rec.receipts[0].chat_id == chat_id_of(first.resolved)
    assert rec.receipts[0].at.tzinfo is not None


@pytest.mark.anyio
async def test_channel_and_group_reads_arrive_with_marked_ids(server):
    group = server.add_channel(1200300400, megagroup=True)
    basic = server.add_chat(4455)
    rec = Recorder()
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message)
        in_group = await send_alert(client, f"channel:{group.id}:{group.access_hash}", "alert")
        in_chat = await send_alert(client, "chat:4455", "alert")
        await settle(client)
        channel_read = await server.read(-1001200300400, int(in_group.message_id))
        chat_read = await server.read(-basic.id, int(in_chat.message_id))
        await settle(client)
    assert isinstance(channel_read, UpdateReadChannelOutbox) and channel_read.channel_id == group.id
    assert isinstance(chat_read, UpdateReadHistoryOutbox)
    assert sorted((r.chat_id, r.max_id) for r in rec.receipts) == [(-1001200300400, 1), (-4455, 1)]


@pytest.mark.anyio
async def test_reply_ack_reaches_the_engine_with_the_alert_id_and_gets_an_answer(server):
    rec = Recorder(lambda m: "Acknowledged incident 7." if m.text == "ack" else None)
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message)
        alert = await send_alert(client, "@alice_oncall", "DOWN web1 (incident 7)")
        await settle(client)
        ack = await server.incoming(777001, "ack", reply_to=int(alert.message_id))
        await settle(client)
    assert isinstance(ack.reply_to, MessageReplyHeader)
    [msg] = rec.messages
    assert (msg.sender_id, msg.chat_id, msg.text, msg.is_private) == (777001, 777001, "ack", True)
    assert msg.reply_to_msg_id == int(alert.message_id) and msg.message_id == ack.id
    answer = server.requests_of(SendMessageRequest)[-1]
    assert (
        answer.message == "Acknowledged incident 7." and answer.reply_to.reply_to_msg_id == ack.id
    )


@pytest.mark.anyio
async def test_unauthorised_sender_gets_no_answer_and_group_messages_carry_the_sender(server):
    group = server.add_channel(1200300401, megagroup=True)
    allowed = {777001}
    rec = Recorder(lambda m: "ok" if m.sender_id in allowed else None)
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message)
        await server.incoming(777002, "/status")
        await server.incoming(777001, "/status", chat_id=group.id)
        await server.incoming(777002, "lunch anyone?", chat_id=group.id)  # not for us
        await settle(client)
    assert [(m.sender_id, m.chat_id, m.is_private) for m in rec.messages] == [
        (777002, 777002, True),
        (777001, -1001200300401, False),
    ]
    [answer] = server.requests_of(SendMessageRequest)
    assert answer.message == "ok"


@pytest.mark.anyio
async def test_rate_limited_senders_never_reach_the_engine(server):
    clock = [0.0]
    rec = Recorder(lambda m: None)
    async with connected(server) as client:
        attach_handlers(
            client, rec.on_read, rec.on_message, limiter=RateLimiter(1, 2, lambda: clock[0])
        )
        for _ in range(5):
            await server.incoming(777002, "/status")
        await settle(client)
        assert len(rec.messages) == 2
        clock[0] = 1.0
        await server.incoming(777002, "/status")
        await server.incoming(777001, "/status")
        await settle(client)
    assert [m.sender_id for m in rec.messages] == [777002, 777002, 777002, 777001]


@pytest.mark.anyio
async def test_a_missed_reply_is_fetched_with_get_difference(server):
    rec = Recorder()
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message)
        alert = await send_alert(client, "@alice_oncall", "alert")
        await settle(client)
        diffs = len(server.requests_of(GetDifferenceRequest))
        await server.incoming(777001, "ack", reply_to=1, deliver=False)  # this push is lost
        await server.incoming(777002, "/status")  # the next one shows a seq gap
        await settle(client)
    assert len(server.requests_of(GetDifferenceRequest)) == diffs + 1
    assert sorted((m.sender_id, m.text) for m in rec.messages) == [
        (777001, "ack"),
        (777002, "/status"),
    ]
    assert next(m for m in rec.messages if m.text == "ack").reply_to_msg_id == int(alert.message_id)


@pytest.mark.anyio
async def test_a_missed_read_receipt_is_recovered_by_polling(server):
    rec = Recorder()
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message)
        alert = await send_alert(client, "@alice_oncall", "alert")
        other = await send_alert(client, "@bob_oncall", "alert")
        await settle(client)
        await server.read(777001, 1, deliver=False)  # read while we were not listening
        await settle(client)
        assert rec.receipts == []
        polled = await poll_read_state(client, [alert.resolved, other.resolved])
    request = server.requests_of(functions.messages.GetPeerDialogsRequest)[0]
    assert [p.peer.user_id for p in request.peers] == [777001, 777002]
    assert [(r.chat_id, r.max_id) for r in polled] == [(777001, 1)]  # bob has read nothing


@pytest.mark.anyio
async def test_poll_skips_a_peer_telegram_refuses(server):
    async with connected(server) as client:
        alert = await send_alert(client, "@alice_oncall", "alert")
        await server.read(777001, 1)
        polled = await poll_read_state(client, ["user:999:1", alert.resolved])
    assert [(r.chat_id, r.max_id) for r in polled] == [(777001, 1)]
    assert (
        len(server.requests_of(functions.messages.GetPeerDialogsRequest)) == 3
    )  # batch, then one by one


@pytest.mark.anyio
async def test_group_read_participants_name_the_readers(server):
    group = server.add_channel(1200300402, megagroup=True)
    resolved = f"channel:{group.id}:{group.access_hash}"
    async with connected(server) as client:
        sent = await send_alert(client, resolved, "alert")
        when = server.sent[0].date
        server.readers[(-1001200300402, 1)] = [(777001, when), (777002, when)]
        readers = await read_participants(client, resolved, int(sent.message_id))
        none = await read_participants(client, resolved, 99)
    assert [(r.reader_id, r.max_id, r.at) for r in readers] == [
        (777001, 1, when),
        (777002, 1, when),
    ]
    assert none == []


@pytest.mark.anyio
async def test_thumbs_up_reaction_is_reported_once_per_person(server):
    reactions = []

    async def on_reaction(reaction):
        reactions.append(reaction)
        return "Acknowledged." if is_ack_text(reaction.emoticon) else None

    rec = Recorder()
    async with connected(server) as client:
        attach_handlers(client, rec.on_read, rec.on_message, on_reaction=on_reaction)
        alert = await send_alert(client, "@alice_oncall", "DOWN web1")
        await settle(client)
        await server.react(777001, 777001, int(alert.message_id), "👍")
        await settle(client)
        await server.react(777002, 777001, int(alert.message_id), "🔥")  # list now holds both
        await settle(client)
    assert [(r.sender_id, r.chat_id, r.message_id, r.emoticon) for r in reactions] == [
        (777001, 777001, 1, "👍"),
        (777002, 777001, 1, "🔥"),
    ]
    [answer] = server.requests_of(SendMessageRequest)[1:]
    assert answer.message == "Acknowledged." and answer.reply_to.reply_to_msg_id == 1


@pytest.mark.anyio
async def test_handler_errors_do_not_escape_and_detach_stops_delivery(server):
    async def boom(_):
        raise RuntimeError("engine bug")

    rec = Recorder()
    async with connected(server) as client:
        handlers = attach_handlers(client, boom, boom)
        await server.incoming(777001, "ack")
        await server.read(777001, 1)
        await settle(client)
        detach_handlers(client, handlers)
        attach_handlers(client, rec.on_read, rec.on_message)
        await server.incoming(777001, "again")
        await settle(client)
        assert client.is_connected()
    assert [m.text for m in rec.messages] == ["again"]
    assert isinstance(server.log[0][1], UpdateNewMessage)
    await asyncio.sleep(0)
