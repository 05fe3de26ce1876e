"""TelegramService: connect with backoff, reconcile receipts after reconnects, and turn a dead
session into health "broken: ..." plus one on_broken call, never an exception."""

from __future__ import annotations

import asyncio

import pytest
from telethon.tl.functions.messages import GetPeerDialogsRequest, SendMessageRequest
from telethon.tl.functions.updates import GetDifferenceRequest
from telethon.tl.types import UpdateReadHistoryOutbox

from engine.telegram.service import TelegramService
from tests.telegram_harness import FakeTelegram, fake_client, settle


async def until(predicate, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


class World:
    """A server, a logged-in client, and the engine-side callbacks the service calls."""

    def __init__(self, **service_kwargs):
        self.server = FakeTelegram()
        self.alice = self.server.add_user(777001, username="alice_oncall")
        self.client = fake_client(self.server, self.server.authorized_session())
        self.sleeps: list[float] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.broken: list[str] = []
        self.receipts = []
        self.messages = []
        self.pending: list[str] = []

        async def sleep(delay):
            self.sleeps.append(delay)
            await self.gate.wait()

        async def on_read(receipt):
            self.receipts.append(receipt)

        async def on_message(message):
            self.messages.append(message)
            return "seen"

        async def pending_peers():
            return list(self.pending)

        self.service = TelegramService(
            self.client,
            on_broken=self.broken.append,
            on_read=on_read,
            on_message=on_message,
            pending_peers=pending_peers,
            sleep=sleep,
            jitter=lambda d: d,
            **service_kwargs,
        )


@pytest.mark.anyio
async def test_start_connects_and_stop_disconnects():
    w = World()
    assert w.service.health == "disconnected"
    await w.service.start()
    assert await w.service.wait_for("ok", 3)
    assert w.service.me_id == w.server.me.id and w.client.is_connected()
    out = await w.service.send_alert("@alice_oncall", "alert")
    assert out.ok and w.server.requests_of(SendMessageRequest)[0].message == "alert"
    await settle(w.client)
    await w.server.incoming(777001, "/status")
    await until(lambda: w.server.requests_of(SendMessageRequest)[-1].message == "seen")
    await w.service.stop()
    assert w.service.health == "disconnected" and not w.client.is_connected()
    assert w.broken == [] and w.server.bugs == []


@pytest.mark.anyio
async def test_refused_connections_back_off_exponentially_then_connect():
    w = World(backoff_initial=1.0, backoff_max=3.0)
    w.server.refuse_connections = 3
    await w.service.start()
    assert await w.service.wait_for("ok", 3)
    assert w.sleeps == [1.0, 2.0, 3.0]
    await w.service.stop()


@pytest.mark.anyio
async def test_revoked_session_at_start_is_broken_not_a_crash():
    w = World()
    w.server.revoke_all("AUTH_KEY_UNREGISTERED")
    await w.service.start()
    assert await w.service.wait_for("broken", 3)
    assert w.service.health == "broken: AuthKeyUnregisteredError"
    assert w.broken == ["AuthKeyUnregisteredError"]
    await until(lambda: w.service._task.done())
    assert w.service._task.exception() is None and w.sleeps == []
    out = await w.service.send_alert("@alice_oncall", "alert")
    assert not out.ok and "broken" in out.error and not w.server.requests_of(SendMessageRequest)
    await w.service.stop()
    assert w.service.health.startswith("broken") and w.broken == ["AuthKeyUnregisteredError"]


@pytest.mark.anyio
async def test_session_revoked_while_running_is_noticed_by_the_update_loop():
    w = World()
    await w.service.start()
    assert await w.service.wait_for("ok", 3)
    await settle(w.client)
    w.server.revoke_all("SESSION_REVOKED")
    await w.server.incoming(777001, "lost", deliver=False)
    await w.server.incoming(777001, "gap")  # seq gap -> getDifference -> 401
    assert await w.service.wait_for("broken", 3)
    assert w.service.health == "broken: SessionRevokedError" and w.broken == ["SessionRevokedError"]
    assert w.server.requests_of(GetDifferenceRequest)
    await until(lambda: w.service._task.done())
    await w.service.stop()


@pytest.mark.anyio
async def test_session_revoked_during_a_send_marks_it_broken_once():
    w = World()
    await w.service.start()
    assert await w.service.wait_for("ok", 3)
    w.server.revoke_all("USER_DEACTIVATED")
    first = await w.service.send_alert("@alice_oncall", "alert")
    second = await w.service.send_alert("@alice_oncall", "alert")
    assert not first.ok and not first.permanent and not second.ok
    assert await w.service.wait_for("broken", 3)
    assert w.broken == ["UserDeactivatedError"]
    await until(lambda: w.service._task.done())
    await w.service.stop()


@pytest.mark.anyio
async def test_receipts_read_while_disconnected_are_reconciled_after_reconnect():
    w = World()
    await w.service.start()
    assert await w.service.wait_for("ok", 3)
    alert = await w.service.send_alert("@alice_oncall", "alert")
    w.pending.append(alert.resolved)
    await settle(w.client)
    w.gate.clear()  # hold the service in its backoff sleep
    for sender in list(w.server.senders):
        await sender._disconnect(error=ConnectionError("connection reset by peer"))
    await until(lambda: w.sleeps)
    assert w.service.health == "disconnected" and not w.server.senders
    missed = await w.server.read(777001, int(alert.message_id))  # nobody is connected to hear it
    assert isinstance(missed, UpdateReadHistoryOutbox)
    assert w.receipts == []
    w.gate.set()
    await until(lambda: w.receipts)
    assert w.service.health == "ok" and w.service.connects == 2
    assert [(r.chat_id, r.max_id) for r in w.receipts] == [(777001, int(alert.message_id))]
    assert len(w.server.requests_of(GetPeerDialogsRequest)) == 1  # nothing was pending at first
    await w.service.stop()


@pytest.mark.anyio
async def test_periodic_reconcile_while_connected():
    w = World(reconcile_every=0.05)
    alert_peer = f"user:777001:{w.alice.access_hash}"
    w.pending.append(alert_peer)
    await w.service.start()
    assert await w.service.wait_for("ok", 3)
    w.server.read_outbox[777001] = 5  # read, but the push never came
    await until(lambda: w.receipts)
    assert (w.receipts[0].chat_id, w.receipts[0].max_id) == (777001, 5)
    await w.service.stop()
