"""The engine's Telegram bridge end to end: outbox rows become real SendMessageRequests on the fake
Telegram, flood waits and blocks are handled, outbox-read updates mark exactly the right rows, and
a dead session turns health red and raises a local incident while other channels deliver."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import anyio
import pytest
from sqlalchemy import select
from telethon.tl.functions.messages import (
    EditMessageRequest,
    GetPeerDialogsRequest,
    SendMessageRequest,
)
from telethon.tl.types import UpdateReadHistoryOutbox

from engine.api.server import health_report
from engine.core.events import ReceiptEvent
from engine.store import contacts as cstore
from engine.store import telegram_session as session_store
from engine.store.models import Receipt
from tests.telegram_engine import ALICE, BOB, running, until, use_fake_telegram
from tests.telegram_harness import FakeTelegram, now
from tests.test_channel_webhook import Receiver


@pytest.fixture
def server(monkeypatch):
    s = FakeTelegram()
    s.add_user(ALICE, username="alice_oncall")
    s.add_user(BOB, username="bob_oncall")
    use_fake_telegram(monkeypatch, s)
    yield s
    assert s.bugs == [] and s.unhandled == []


@pytest.mark.anyio
async def test_incident_is_sent_as_a_message_and_resolving_edits_it(
    tmp_path, settings, keyring, server
):
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        sent_events = w.engine.events.subscribe(types={"receipt"})
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        rec = await w.add_target("db", port)  # nothing listens yet: down
        inc = await until(lambda: w.commands.list_incidents(state="firing"), what="incident")
        note = (await until(lambda: w.notifications(status="sent"), what="sent"))[0]
        request = w.server.requests_of(SendMessageRequest)[0]
        assert request.peer.user_id == ALICE
        assert request.message.startswith("[HIGH] DOWN db since")
        assert f"Incident: {inc[0]['id']}" in request.message and "reply ack" in request.message
        message = w.sent_to(ALICE)[0]
        assert note.message_id == str(message.id) and note.incident_id == inc[0]["id"]
        event = await sent_events.__anext__()
        assert isinstance(event, ReceiptEvent) and event.status == "sent"
        contact = cstore.find(w.store, "alice")
        assert contact.resolved == f"user:{ALICE}:{w.server.users[ALICE].access_hash}"

        listener.listen()  # the target recovers: the alert message is edited, not repeated
        edit = (await until(lambda: w.server.requests_of(EditMessageRequest), what="edit"))[0]
        assert edit.id == message.id and edit.message.startswith("[RESOLVED] Resolved: db")
        assert len(w.server.requests_of(SendMessageRequest)) == 1
        resolved = await until(lambda: w.notifications(kind="resolved", status="sent"))
        assert resolved[0].message_id == str(message.id)
        listener.close()
        assert rec.id


@pytest.mark.anyio
async def test_flood_wait_is_waited_out_then_sent(tmp_path, settings, keyring, server):
    server.fail(SendMessageRequest, "FLOOD_WAIT_1", 420)
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        await w.down_incident("web")
        retry = await until(lambda: w.notifications(status="pending", attempts=1), what="retry")
        assert retry[0].next_attempt_at - retry[0].created_at >= 1.0  # waits the FloodWait
        note = (await until(lambda: w.notifications(status="sent"), 6.0, "sent"))[0]
        assert note.attempts == 2 and note.message_id == str(w.sent_to(ALICE)[0].id)
        assert len(w.server.requests_of(SendMessageRequest)) == 2
        assert cstore.find(w.store, "alice").status == "ok"


@pytest.mark.anyio
async def test_blocked_user_marks_the_contact_and_others_still_get_it(
    tmp_path, settings, keyring, server
):
    server.blocked_by.add(ALICE)
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        w.commands.add_contact("bob", "telegram:@bob_oncall")
        await w.down_incident("web")
        await until(lambda: w.notifications(status="dead"), what="dead row")
        await until(lambda: w.notifications(status="sent"), what="bob's alert")
        await until(lambda: cstore.find(w.store, "alice").status != "ok", what="marked")
        by_name = {c["name"]: c for c in w.commands.list_contacts()}
        assert by_name["alice"]["status"] == "blocked"
        assert "blocked the SysAlert account" in by_name["alice"]["status_detail"]
        assert by_name["bob"]["status"] == "ok"
        # Bob gets the alert, then word that alice cannot be reached (a delivery incident).
        told = await until(
            lambda: [m for m in w.server.sent if "cannot reach contact alice" in m.message],
            what="delivery incident",
        )
        assert {m.peer_id.user_id for m in w.server.sent} == {BOB} and len(told) == 1
        assert "blocked" in told[0].message.lower()
        assert "telegram" in (w.engine.metrics.last_error or "")


@pytest.mark.anyio
async def test_outbox_read_marks_exactly_the_notifications_up_to_max_id_in_that_chat(
    tmp_path, settings, keyring, server
):
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        w.commands.add_contact("bob", "telegram:@bob_oncall")
        await w.down_incident("web")
        await until(lambda: len(w.notifications(status="sent")) == 2, what="first alerts")
        await w.down_incident("db")
        await until(lambda: len(w.notifications(status="sent")) == 4, what="second alerts")
        alice = cstore.find(w.store, "alice").id
        first, second = w.notifications(contact_id=alice)
        events = w.engine.events.subscribe(types={"receipt"})

        update = await w.server.read(ALICE, int(first.message_id))
        assert isinstance(update, UpdateReadHistoryOutbox)
        await until(lambda: w.notifications(id=first.id)[0].read_at, what="read")
        read = [n.id for n in w.notifications() if n.read_at is not None]
        assert read == [first.id]  # not alice's later alert, not bob's (his ids interleave)
        event = await events.__anext__()
        while event.status == "sent":  # the last alert's "sent" may be published after its row
            event = await events.__anext__()
        assert (event.notification_id, event.status) == (first.id, "read")
        with w.store.session() as s:
            receipt = s.exec(select(Receipt)).scalars().one()
        assert receipt.notification_id == first.id
        assert w.store.open_("receipts", "reader_s", receipt.id, receipt.reader_s) == "alice"
        assert b"alice" not in receipt.reader_s

        await w.server.read(ALICE, int(second.message_id))
        await until(lambda: w.notifications(id=second.id)[0].read_at, what="second read")
        bob_rows = w.notifications(contact_id=cstore.find(w.store, "bob").id)
        assert all(n.read_at is None for n in bob_rows)
        listed = w.commands.list_incidents()
        reads = {n["contact"]: n["read_at"] for i in listed for n in i["notifications"]}
        assert reads["bob"] is None and reads["alice"] is not None


@pytest.mark.anyio
async def test_broken_session_turns_health_red_raises_a_local_incident_and_webhooks_deliver(
    tmp_path, settings, keyring, server
):
    def revoke(_engine):  # after the session is stored: Telegram has since revoked it
        server.revoke_all("AUTH_KEY_UNREGISTERED")

    with Receiver() as hook:
        async with running(tmp_path, settings, keyring, server, setup=revoke) as w:
            w.commands.add_contact("alice", "telegram:@alice_oncall")
            w.commands.add_contact("hook", f"webhook:{hook.url}/alerts")
            await until(lambda: not w.engine.telegram.healthy, what="red health")
            report = await anyio.to_thread.run_sync(health_report, w.engine)
            assert report["status"] == "failing" and "telegram" in report["failing"]
            assert "AuthKeyUnregisteredError" in report["parts"]["telegram"]["state"]
            local = await until(
                lambda: [i for i in w.commands.list_incidents() if i["kind"] == "telegram"],
                what="local incident",
            )
            assert (
                local[0]["state"] == "firing" and "Telegram session broken" in local[0]["summary"]
            )
            await w.down_incident("web")  # the engine keeps probing and alerting
            await until(lambda: len(hook.requests) >= 2, what="webhook alerts")
            bodies = " ".join(json.dumps(r.json()) for r in hook.requests)
            assert "Telegram session broken" in bodies and "web" in bodies
            assert w.engine.running and w.server.requests_of(SendMessageRequest) == []
            assert cstore.find(w.store, "alice").status == "ok"  # our fault, not alice's
            assert len([i for i in w.commands.list_incidents() if i["kind"] == "telegram"]) == 1


@pytest.mark.anyio
async def test_login_from_elsewhere_starts_it_and_logout_stops_it_without_an_incident(
    tmp_path, settings, keyring, server
):
    async with running(tmp_path, settings, keyring, server, logged_in=False) as w:
        await asyncio.sleep(0.1)
        assert w.engine.telegram.healthy and w.engine.telegram.health_text == "not logged in"
        assert w.commands.telegram_status()["health"]["state"] == "not logged in"
        session_store.save(w.store, server.authorized_session(), server.me.id, "****0100")
        await w.connected()
        assert w.commands.telegram_status() == {
            "logged_in": True,
            "account": "****0100",
            "since": w.commands.telegram_status()["since"],
            "health": {"ok": True, "state": "connected as ****0100"},
        }
        out = await w.commands.telegram_logout()
        assert out == {"was_logged_in": True, "ended_at_telegram": True}
        await until(lambda: w.engine.telegram.health_text == "not logged in", what="stopped")
        await asyncio.sleep(0.2)
        assert [i for i in w.commands.list_incidents() if i["kind"] == "telegram"] == []
        assert w.engine.telegram.service is None  # its sends say "not logged in" now


@pytest.mark.anyio
async def test_session_and_account_are_sealed_in_the_store_file(
    tmp_path: Path, settings, keyring, server
):
    session = server.authorized_session()
    async with running(tmp_path, settings, keyring, server, logged_in=False) as w:
        session_store.save(w.store, session, server.me.id, "****0100")
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        await w.down_incident("web")
        await until(lambda: w.notifications(status="sent"), what="sent")
        assert session_store.load(w.store) == session
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    assert session.encode() not in blob
    key = next(k for k, v in server.keys.items() if v == server.me.id)
    assert key not in blob and key.hex().encode() not in blob
    assert str(server.me.id).encode() not in blob  # the account id is sealed too
    assert b"alice_oncall" not in blob and str(ALICE).encode() not in blob


@pytest.mark.anyio
async def test_a_missed_read_push_is_found_by_polling_the_pending_chats(
    tmp_path, settings, keyring, server
):
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        w.commands.add_contact("bob", "telegram:@bob_oncall")
        await w.down_incident("web")
        await until(lambda: len(w.notifications(status="sent")) == 2, what="alerts")
        alice = cstore.find(w.store, "alice")
        note = w.notifications(contact_id=alice.id)[0]
        await w.server.read(ALICE, int(note.message_id), deliver=False)  # the push is lost
        await anyio.sleep(0.1)
        assert w.notifications(id=note.id)[0].read_at is None
        receipts = await w.engine.telegram.service.reconcile()  # what every (re)connect runs
        assert [(r.chat_id, r.max_id) for r in receipts] == [(ALICE, int(note.message_id))]
        polled = w.server.requests_of(GetPeerDialogsRequest)[-1]
        assert sorted(p.peer.user_id for p in polled.peers) == [ALICE, BOB]
        assert w.notifications(id=note.id)[0].read_at is not None
        assert [n.read_at for n in w.notifications(contact_id=cstore.find(w.store, "bob").id)] == [
            None
        ]
        await w.engine.telegram.service.reconcile()
        polled = w.server.requests_of(GetPeerDialogsRequest)[-1]
        assert [p.peer.user_id for p in polled.peers] == [BOB]  # alice has nothing unread


@pytest.mark.anyio
async def test_group_read_records_the_participants_telegram_names(
    tmp_path, settings, keyring, server
):
    group = server.add_chat(4455, "ops")
    async with running(tmp_path, settings, keyring, server) as w:
        await w.connected()
        w.commands.add_contact("ops", f"telegram:-{group.id}")
        w.commands.add_contact("alice", f"telegram:{ALICE}", level=2)  # only names the reader
        await w.down_incident("web")
        note = (await until(lambda: w.notifications(status="sent"), what="sent"))[0]
        mid = int(note.message_id)
        w.server.readers[(-group.id, mid)] = [(ALICE, now()), (BOB, now())]
        await w.server.read(-group.id, mid)
        await until(lambda: w.notifications(id=note.id)[0].read_at, what="read")

        def readers():
            with w.store.session() as s:
                rows = s.exec(select(Receipt).where(Receipt.notification_id == note.id)).scalars()
                return sorted(w.store.open_("receipts", "reader_s", r.id, r.reader_s) for r in rows)

        assert await until(lambda: readers() if len(readers()) == 3 else None) == [
            "alice",
            "ops",
            "user ****7002",
        ]
        # ...and the incident list (CLI, API, console) says who read it.
        (listed,) = [
            n for i in w.commands.list_incidents() for n in i["notifications"] if n["id"] == note.id
        ]
        assert sorted(r["name"] for r in listed["readers"]) == ["alice", "ops", "user ****7002"]
