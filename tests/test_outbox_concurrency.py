"""Delivery without head-of-line blocking, against real receivers on 127.0.0.1: a webhook that
accepts the connection and never answers holds one slot of its channel, not the queue; another
contact's alert goes out at once (a webhook here, a Telegram contact through the fake Telegram);
the hanging send still times out and is retried with backoff; each channel's sends in flight are
bounded; and a send slower than the lease never lets another claimer take a row still in hand."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import pytest
from telethon.tl.functions.messages import SendMessageRequest

from engine.notify import dispatcher as dispatcher_mod
from engine.notify import outbox
from tests.alerting_harness import Rig, make_rig
from tests.telegram_engine import ALICE, running, until, use_fake_telegram
from tests.telegram_harness import FakeTelegram
from tests.test_channel_webhook import Receiver, Seen
from tests.test_outbox import outages, rows


class Silent:
    """A TCP listener that accepts every connection and never says a word (a wedged receiver)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.accepted: list[float] = []  # monotonic time of each connection
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(time.monotonic())
            self._conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for c in self._conns:
            c.close()
        self.sock.close()


@contextmanager
def silent() -> Iterator[Silent]:
    s = Silent()
    try:
        yield s
    finally:
        s.close()


class Timed:
    """A real webhook receiver that notes when each alert arrived (monotonic) and for which incident."""

    def __init__(self, delay: float = 0.0) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.delay = delay

    def respond(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        self.arrivals.append((time.monotonic(), json.loads(seen.body).get("incident_id", "")))
        time.sleep(self.delay)
        return 200, {}, b"ok"


@asynccontextmanager
async def dispatching(rig: Rig) -> AsyncIterator[None]:
    """The engine's dispatcher runs for the body of the block, then stops."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(rig.engine.alerting.dispatcher.run)
        yield
        tg.cancel_scope.cancel()


async def wait_for(done, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    with anyio.move_on_after(timeout):
        while not done():
            await anyio.sleep(0.02)
        return
    raise AssertionError(f"{what} not reached within {timeout} s")


@pytest.mark.anyio
async def test_a_hanging_webhook_does_not_hold_back_another_contacts_alerts(
    settings, db_url, keyring
) -> None:
    timed = Timed()
    with (
        silent() as wedged,
        Receiver(timed.respond) as hook,
        make_rig(settings, db_url, keyring) as rig,
    ):
        rig.contact("hangs", f"webhook:{wedged.url}/never")
        rig.contact("oncall", f"webhook:{hook.url}/hook")
        rig.results(rig.target("a"), "xx", -60)  # one incident, then another half a minute later
        rig.results(rig.target("b"), "xx", -30)
        rig.go_live()
        by_target = {i["target"]: i["id"] for i in rig.incidents("firing")}
        first, second = by_target["a"], by_target["b"]
        hangs = next(c for c in rig.commands.list_contacts() if c["name"] == "hangs")

        def hanging_row():  # type: ignore[no-untyped-def]
            return next(
                r for r in rows(rig) if r.contact_id == hangs["id"] and r.incident_id == first
            )

        async with dispatching(rig):
            await wait_for(lambda: len(timed.arrivals) == 2 and wedged.accepted, what="alerts")
            row = hanging_row()
            assert row.status == "sending" and row.attempts == 0  # still hanging
            assert [iid for _, iid in timed.arrivals] == [first, second]  # in the order queued
            lag = timed.arrivals[-1][0] - wedged.accepted[0]
            assert lag < 1.0, f"the answering contact waited {lag:.1f} s behind a hanging one"

            # The hanging send still times out (10 s) and is retried with backoff; the contact's
            # next row goes out only then, in its order.
            await wait_for(
                lambda: len(wedged.accepted) >= 2 and hanging_row().attempts == 1, what="retry"
            )
            row = hanging_row()
        assert row.status == "pending" and row.next_attempt_at > row.created_at
        failed = next(n for i in rig.incidents() for n in i["notifications"] if n["id"] == row.id)
        assert "Timeout" in failed["error"]
        assert wedged.accepted[1] - wedged.accepted[0] >= 9.0  # after the first one's timeout
        assert len(hook.requests) == 2  # nothing sent twice


@pytest.mark.anyio
async def test_each_channel_has_a_bounded_number_of_sends_in_flight(
    settings, db_url, keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher_mod, "DEFAULT_SLOTS", 3)
    timed = Timed()
    with (
        silent() as wedged,
        Receiver(timed.respond) as chat,
        make_rig(settings, db_url, keyring) as rig,
    ):
        for i in range(5):
            rig.contact(f"hangs{i}", f"webhook:{wedged.url}/h{i}")
        rig.contact("chat", f"discord:{chat.url}/api/webhooks/1/x")
        outages(rig, 1)
        settled: list[float] = []

        def three_hang_and_chat_heard() -> bool:
            if not settled and len(wedged.accepted) >= 3 and timed.arrivals:
                settled.append(time.monotonic())
            return bool(settled) and time.monotonic() - settled[0] > 1.0  # room for a fourth

        async with dispatching(rig):
            await wait_for(three_hang_and_chat_heard, what="three hanging sends and the chat's")
            assert len(wedged.accepted) == 3, "webhook sends in flight beyond the channel's bound"
            assert len(chat.requests) == 1  # another channel is not held by the webhook's slots
            webhook = [r for r in rows(rig) if r.channel == "webhook"]
            assert [(r.status, r.attempts) for r in webhook] == [("sending", 0)] * 5  # all in hand


@pytest.mark.anyio
async def test_a_send_slower_than_the_lease_is_never_claimed_twice(
    settings, db_url, keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "LEASE_S", 1.0)
    slow = Timed(delay=2.5)  # each send outlives the lease; the second row waits behind it
    taken: list[str] = []
    with Receiver(slow.respond) as hook, make_rig(settings, db_url, keyring) as rig:
        rig.contact("slow", f"webhook:{hook.url}/hook")
        outages(rig, 2)

        async def other_claimer() -> None:
            """Another engine on the same store, claiming every 0.1 s."""
            while True:
                got = await anyio.to_thread.run_sync(
                    outbox.claim_due, rig.store, "engine-other", time.time()
                )
                taken.extend(r.id for r in got)
                await anyio.sleep(0.1)

        owner = rig.engine.alerting.dispatcher.owner
        async with dispatching(rig), anyio.create_task_group() as tg:
            await wait_for(lambda: all(r.lease_owner == owner for r in rows(rig)), what="claim")
            tg.start_soon(other_claimer)
            await wait_for(lambda: taken or all(r.status == "sent" for r in rows(rig)), 30, "sent")
            tg.cancel_scope.cancel()
    assert taken == [], "another claimer took a row this engine still held"
    assert len(hook.requests) == 2
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(rig))


@pytest.fixture
def server(monkeypatch):
    s = FakeTelegram()
    s.add_user(ALICE, username="alice_oncall")
    use_fake_telegram(monkeypatch, s)
    yield s
    assert s.bugs == [] and s.unhandled == []


@pytest.mark.anyio
async def test_a_telegram_page_is_not_held_behind_a_hanging_webhook(
    tmp_path: Path, settings, keyring, server
) -> None:
    with silent() as wedged:
        async with running(tmp_path, settings, keyring, server) as w:
            await w.connected()
            w.commands.add_contact("hangs", f"webhook:{wedged.url}/never")
            w.commands.add_contact("alice", "telegram:@alice_oncall")
            first = await w.down_incident("web")
            await until(lambda: wedged.accepted, what="the hanging webhook's connection")

            # Another incident while the webhook still hangs: alice hears of it at once.
            inc = await w.down_incident("db")
            assert time.monotonic() - wedged.accepted[0] < 8.0, "too slow to test the hang"
            queued = await until(
                lambda: w.notifications(incident_id=inc["id"], channel="telegram"),
                what="alice's row for the second incident",
            )
            sent = await until(
                lambda: [
                    n
                    for n in w.notifications(incident_id=inc["id"], channel="telegram")
                    if n.status == "sent"
                ],
                what="alice's second alert",
            )
            assert w.notifications(incident_id=first["id"], channel="telegram")[0].status == "sent"
            lag = sent[0].sent_at - queued[0].created_at
            assert lag < 1.0, f"a Telegram page waited {lag:.1f} s behind a hanging webhook"
            assert len(server.requests_of(SendMessageRequest)) == 2
