"""Acknowledge by reply and the chat commands, through a running engine: real incoming messages
pushed through the client's update loop, answers checked as the SendMessageRequests they become,
effects checked in the store."""

from __future__ import annotations

import logging
import re
import socket

import anyio
import pytest
from telethon.tl.functions.messages import SendMessageRequest

from engine.store import contacts as cstore
from engine.store import windows as wstore
from engine.telegram import chats
from tests.telegram_engine import ALICE, BOB, STRANGER, running, until, use_fake_telegram
from tests.telegram_harness import FakeTelegram


@pytest.fixture
def server(monkeypatch):
    s = FakeTelegram()
    s.add_user(ALICE, username="alice_oncall")
    s.add_user(BOB, username="bob_oncall")
    s.add_user(STRANGER, username="mallory")
    use_fake_telegram(monkeypatch, s)
    yield s
    assert s.bugs == [] and s.unhandled == []


@pytest.fixture
async def world(tmp_path, settings, keyring, server):
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        yield w


async def alert(w, name="web"):
    """An incident whose alert reached alice; returns (incident, alice's alert message)."""
    inc = await w.down_incident(name)

    def sent():
        return [n for n in w.notifications(status="sent") if n.incident_id == inc["id"]]

    note = (await until(sent, what="alert sent"))[0]
    return inc, next(m for m in w.server.sent if m.id == int(note.message_id))


def state_of(w, incident_id):
    return next(i for i in w.commands.list_incidents() if i["id"] == incident_id)


@pytest.mark.anyio
async def test_reply_ack_by_the_contact_acknowledges_that_incident(world):
    w = world
    first, _ = await alert(w, "web")
    second, message = await alert(w, "db")
    reply = await w.say(ALICE, "ack", reply_to=message.id)
    text = await w.reply_text(reply)
    assert text.startswith(f"Acknowledged {second['id']} (db)")
    acked = state_of(w, second["id"])
    assert acked["state"] == "acknowledged" and acked["acked_by"] == "alice"
    assert state_of(w, first["id"])["state"] == "firing"  # only the one replied to
    confirmation = w.server.requests_of(SendMessageRequest)[-1]
    assert confirmation.reply_to.reply_to_msg_id == reply.id
    history = w.commands.history(kind="incident")
    assert any(h["action"] == "incident.ack" and h["actor"] == "alice" for h in history)


@pytest.mark.anyio
async def test_thumbs_up_and_slash_ack_as_replies_and_ack_by_id(world):
    w = world
    one, m1 = await alert(w, "one")
    two, _ = await alert(w, "two")
    three, m3 = await alert(w, "three")
    assert "Acknowledged" in await w.reply_text(await w.say(ALICE, "👍", reply_to=m1.id))
    assert "Acknowledged" in await w.reply_text(await w.say(ALICE, f"/ack {two['id']}"))
    assert "Acknowledged" in await w.reply_text(await w.say(ALICE, "/ack", reply_to=m3.id))
    assert {state_of(w, i["id"])["state"] for i in (one, two, three)} == {"acknowledged"}
    text = await w.reply_text(await w.say(ALICE, "/ack nosuch"))
    assert text == "No incident 'nosuch'."
    text = await w.reply_text(await w.say(ALICE, "ack"))  # not a reply: how to do it
    assert "reply ack to the alert message" in text


@pytest.mark.anyio
async def test_a_stranger_changes_nothing_and_gets_no_answer(world, caplog):
    caplog.set_level(logging.INFO)
    w = world
    inc, message = await alert(w)
    sent_before = len(w.server.sent)
    for text in ("ack", "/status", "/mode maintenance all", "/delete_account confirm"):
        await w.no_reply(await w.say(STRANGER, text, reply_to=message.id), 0.1)
    assert (
        state_of(w, inc["id"])["state"] == "firing" and state_of(w, inc["id"])["acked_by"] is None
    )
    assert len(w.server.sent) == sent_before and w.commands.list_maintenance() == []
    assert cstore.find(w.store, "alice") is not None
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("engine"))
    assert "****7009" in logged and str(STRANGER) not in logged


@pytest.mark.anyio
async def test_status_get_and_history(world):
    w = world
    await alert(w, "web")
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        await w.add_target("api", port, interval="1h")
        status = await w.reply_text(await w.say(ALICE, "/status"))
        lines = status.splitlines()
        assert lines[0].endswith("of 2 targets up.") and "🔴 web: down since" in status
        assert "Open incidents:" in status and "web: firing" in status
        got = await w.reply_text(await w.say(ALICE, "/get api"))
        assert got.startswith("api: up, ") and " ms" in got
        missing = await w.reply_text(await w.say(ALICE, "/get nosuch"))
        assert missing == "No target 'nosuch'."
        # A system target answers with its metric (psutil's percent), not a call's latency.
        await anyio.to_thread.run_sync(
            lambda: w.commands.add_target("system://memory", name="mem", interval="1h")
        )
        mem = await w.reply_text(await w.say(ALICE, "/get mem"))
        assert re.fullmatch(r"mem: up, \d+%, checked .+", mem), mem
        hist = await w.reply_text(await w.say(ALICE, "/history web"))
        assert hist.startswith("Recent events for web:") and "state.down web" in hist
        everything = await w.reply_text(await w.say(ALICE, "/history"))
        assert everything.startswith("Recent events:") and "incident.open" in everything
    finally:
        listener.close()


@pytest.mark.anyio
async def test_mode_maintenance_and_active(world):
    w = world
    rec = await w.add_target("web", 9, interval="1h")
    text = await w.reply_text(await w.say(ALICE, "/mode maintenance web"))
    assert text.startswith("Maintenance on for web")
    windows = await anyio.to_thread.run_sync(wstore.load_all, w.store)
    assert [x.target_id for x in windows] == [rec.id]
    text = await w.reply_text(await w.say(ALICE, "/mode active web"))
    assert text == "Maintenance off for web (1 window(s) ended)."
    assert w.commands.list_maintenance() == []
    text = await w.reply_text(await w.say(ALICE, "/mode maintenance all"))
    assert text.startswith("Maintenance on for all targets")
    assert [x["scope"] for x in w.commands.list_maintenance()] == ["all"]
    text = await w.reply_text(await w.say(ALICE, "/mode sleep web"))
    assert "must be maintenance or active" in text and "Usage: /mode" in text


@pytest.mark.anyio
async def test_whoami_help_start_and_unknown(world):
    w = world
    who = await w.reply_text(await w.say(ALICE, "/whoami"))
    assert who.startswith("You are SysAlert contact alice (****7001)") and str(ALICE) not in who
    helped = await w.reply_text(await w.say(ALICE, "/help"))
    assert "/ack [incident-id]" in helped and "/addsub" not in helped
    assert await w.reply_text(await w.say(ALICE, "/help mode")) == (
        "/mode maintenance|active <target|all>"
    )
    unknown = await w.reply_text(await w.say(ALICE, "/frobnicate"))
    assert unknown.startswith("Unknown command /frobnicate.")
    assert "/addsub is for admins" in await w.reply_text(await w.say(ALICE, "/addsub 5"))
    assert "/help" in await w.reply_text(await w.say(ALICE, "/start"))
    assert "/help" in await w.reply_text(await w.say(ALICE, "hello?"))


@pytest.mark.anyio
async def test_delete_account_asks_then_erases_that_contact(world):
    w = world
    w.commands.add_contact("bob", "telegram:@bob_oncall")
    await alert(w)
    alice = cstore.find(w.store, "alice")
    asked = await w.reply_text(await w.say(ALICE, "/delete_account"))
    assert "/delete_account confirm" in asked and cstore.find(w.store, "alice") is not None
    done = await w.reply_text(await w.say(ALICE, "/delete_account confirm"))
    assert done.startswith("Your SysAlert data is erased")
    assert cstore.find(w.store, "alice") is None and cstore.find(w.store, "bob") is not None
    assert w.notifications(contact_id=alice.id) == []
    audit = [h for h in w.commands.history(kind="contact") if h["action"] == "contact.remove"]
    assert audit and audit[0]["actor"] == "telegram:self" and audit[0]["detail"] is None
    await w.no_reply(await w.say(ALICE, "/status"))  # no longer a contact


@pytest.mark.anyio
async def test_a_group_contact_acks_by_reply_and_its_chatter_is_ignored(world):
    w = world
    group = w.server.add_chat(4455, "ops")
    w.commands.add_contact("ops", f"telegram:-{group.id}")
    inc, _ = await alert(w)
    ops = cstore.find(w.store, "ops")
    note = (await until(lambda: w.notifications(contact_id=ops.id, status="sent")))[0]
    chatter = await w.say(BOB, "looking", reply_to=int(note.message_id), chat_id=group.id)
    await w.no_reply(chatter)
    ack = await w.say(BOB, "ack", reply_to=int(note.message_id), chat_id=group.id)
    assert (await w.reply_text(ack)).startswith(f"Acknowledged {inc['id']}")
    assert state_of(w, inc["id"])["acked_by"] == "ops"
    assert chats.chat_id_for(ops) == -4455
    refused = await w.reply_text(await w.say(BOB, "/delete_account confirm", chat_id=group.id))
    assert "private chat" in refused and cstore.find(w.store, "ops") is not None


@pytest.mark.anyio
async def test_thumbs_up_reaction_by_the_contact_acks_with_ack_on_reaction(
    tmp_path, settings, keyring, server
):
    settings.telegram.ack_on_reaction = True
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        inc, message = await alert(w)
        await w.server.react(STRANGER, ALICE, message.id, "👍")  # not alice's chat: ignored
        await w.server.react(ALICE, ALICE, message.id, "🔥")
        await w.no_reply(message)
        assert state_of(w, inc["id"])["state"] == "firing"
        await w.server.react(ALICE, ALICE, message.id, "👍")
        text = await w.reply_text(message)
        assert text.startswith(f"Acknowledged {inc['id']}")
        assert state_of(w, inc["id"])["acked_by"] == "alice"
