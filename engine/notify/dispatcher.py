"""Sends what the outbox holds: leases, per-channel rate limits, retries with backoff and jitter.

Sends run concurrently so that one receiver that hangs delays nobody else: each contact's rows go
out one at a time in the order they were claimed (an alert before the resolved notice that edits
it), and each channel has a bounded number of sends in flight. Rows wait in hand under a lease that
is renewed while they wait, so no other claimer takes them.

Seams (engine/notify/ports.py): the engine is seen through `DeliveryHost`; delivery trouble is
reported through the `DeliveryTrouble` callbacks given at construction; a live Telegram session
registers with `set_telegram_sender`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup

from engine.core.domain import ContactRecord
from engine.core.events import ReceiptEvent
from engine.core.faults import crash_point
from engine.notify import outbox
from engine.notify.channels import send as channel_send
from engine.notify.message import ChannelContext, OutgoingMessage, SendOutcome, SmtpSettings
from engine.notify.ports import DeliveryHost, DeliveryTrouble, TelegramSender
from engine.store import contacts as cstore
from engine.store.outbox import OutboxRow
from engine.store.store import new_id

log = logging.getLogger(__name__)

# Sends in flight at once per channel: a hanging receiver holds one slot for its timeout, not the
# queue. Channels that send from worker threads (SMTP, Apprise) get fewer, since the store's calls
# share those threads; Telegram shares one session and its own rate limiter.
CHANNEL_SLOTS = {"email": 4, "apprise": 4, "telegram": 4}
DEFAULT_SLOTS = 8
BATCH = 50  # rows claimed per query
MAX_IN_HAND = 500  # rows claimed and not yet finished, all contacts together
# A send that outlives every channel's own timeouts (10 s per HTTP phase, SMTP's per command) is
# counted as a retryable failure, so a wedged connection cannot hold a contact's queue for ever.
SEND_DEADLINE_S = 60.0


class TokenBucket:
    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, per_minute))
        self.tokens = self.capacity
        self.clock = clock
        self.t = clock()

    def take(self) -> float:
        """0 when a token was taken, else seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def channel_context(settings: Any, http: httpx.AsyncClient) -> ChannelContext:
    smtp = None
    s = settings.smtp
    if s.host:
        smtp = SmtpSettings(
            host=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password.get_secret_value() or None,
            from_addr=s.from_addr,
            starttls=s.starttls,
            ssl=s.ssl,
            timeout=s.timeout,
        )
    secret = settings.alerts.webhook_secret.get_secret_value() or None
    return ChannelContext(http=http, smtp=smtp, webhook_secret=secret)


def short_reason(channel: str, error: str) -> str:
    """A channel's error without the words the status bar already says: "apprise delivery
    failed: HTTP 401" on the apprise channel reads "HTTP 401"."""
    reason = error.strip()
    if reason.lower().startswith(channel.lower()):
        reason = reason[len(channel) :].lstrip(" :")
    for lead in ("delivery failed: ", "failed: "):
        if reason.startswith(lead):
            reason = reason[len(lead) :]
    return reason or "failed"


class Dispatcher:
    def __init__(self, host: DeliveryHost, trouble: DeliveryTrouble) -> None:
        self.host = host
        self.trouble = trouble
        self.store = host.store
        self.owner = "engine-" + new_id()
        self.buckets: dict[str, TokenBucket] = {}
        self._wake = anyio.Event()
        self.sent = 0
        self.failed = 0
        self._in_hand: dict[str, OutboxRow] = {}  # claimed rows not yet finished, by id
        self._queues: dict[str, deque[OutboxRow]] = {}  # per contact with rows in hand, in order
        self._slots: dict[str, anyio.Semaphore] = {}  # per channel
        self._telegram: TelegramSender | None = None
        # Contacts with an open delivery incident: their next successful send resolves it.
        self.troubled: set[str] | None = None

    def wake(self) -> None:
        self._wake.set()

    def set_telegram_sender(self, sender: TelegramSender | None) -> None:
        """The seam for Telegram rows: the engine's Telegram bridge registers itself here (it
        explains by itself why it cannot send while no session runs). Without a sender, Telegram
        rows fail as `send_direct` says: only a running engine sends to Telegram."""
        self._telegram = sender

    @property
    def busy(self) -> bool:
        """Rows claimed and not finished (the engine's drain waits for them)."""
        return bool(self._in_hand)

    async def run(self) -> None:
        self.troubled = await anyio.to_thread.run_sync(self.trouble.troubled)
        async with httpx.AsyncClient(timeout=10.0) as http:
            ctx = channel_context(self.host.settings, http)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._keep_leases)
                    while True:
                        rows = await self._claim()
                        for row in rows:
                            self._take(row, tg, ctx)
                        if not rows:
                            with anyio.move_on_after(0.5):
                                await self._wake.wait()
                            self._wake = anyio.Event()
            finally:
                # Stopped: rows in hand go straight back to the queue instead of waiting out their
                # lease (one in flight may be resent; idempotent channels drop the duplicate).
                left = list(self._in_hand)
                self._in_hand.clear()
                self._queues.clear()
                if left:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(self._release_all, left)

    async def _claim(self) -> list[OutboxRow]:
        """Due rows, none for a contact that still has rows in hand (they wait their turn in the
        store, where another engine may take them)."""
        room = min(BATCH, MAX_IN_HAND - len(self._in_hand))
        if room <= 0 or self.host.scheduler.draining:
            return []
        claim = partial(
            outbox.claim_due,
            self.store,
            self.owner,
            self.host.clock(),
            room,
            skip_contacts=frozenset(self._queues),
        )
        return await anyio.to_thread.run_sync(claim)

    def _take(self, row: OutboxRow, tg: TaskGroup, ctx: ChannelContext) -> None:
        self._in_hand[row.id] = row
        queue = self._queues.get(row.contact_id)
        if queue is None:
            queue = self._queues[row.contact_id] = deque()
            tg.start_soon(self._send_queue, row.contact_id, queue, ctx)
        queue.append(row)

    async def _send_queue(
        self, contact_id: str, queue: deque[OutboxRow], ctx: ChannelContext
    ) -> None:
        """One contact's rows, one at a time, each under one of its channel's slots."""
        while queue:
            row = queue[0]
            async with self._slot(row.channel):
                if self.host.scheduler.draining:  # stopping: start nothing new
                    await anyio.to_thread.run_sync(
                        outbox.release, self.store, row.id, 0.0, self.host.clock(), self.owner
                    )
                else:
                    await self._deliver(row, ctx)
            queue.popleft()
            self._in_hand.pop(row.id, None)
        del self._queues[contact_id]  # no await since the last check: nothing was added
        self.wake()  # its rows that stayed queued may be due

    def _slot(self, channel: str) -> anyio.Semaphore:
        slot = self._slots.get(channel)
        if slot is None:
            slot = anyio.Semaphore(CHANNEL_SLOTS.get(channel, DEFAULT_SLOTS))
            self._slots[channel] = slot
        return slot

    async def _keep_leases(self) -> None:
        """Three times a lease, extend it on every row in hand, queued or in flight: sends slower
        than the lease never let another claimer take a row that is still going out from here."""
        while True:
            await anyio.sleep(outbox.LEASE_S / 3)
            ids = list(self._in_hand)
            if ids:
                held = await anyio.to_thread.run_sync(
                    outbox.renew, self.store, self.owner, ids, self.host.clock()
                )
                lost = [i for i in ids if i not in held and i in self._in_hand]
                if lost:
                    log.warning("outbox: %d notifications in hand lost their lease", len(lost))

    def _release_all(self, ids: list[str]) -> None:
        for rid in ids:
            outbox.release(self.store, rid, 0.0, self.host.clock(), self.owner)

    async def _deliver(self, row: OutboxRow, ctx: ChannelContext) -> None:
        st = self.host.settings
        held = await anyio.to_thread.run_sync(
            outbox.renew, self.store, self.owner, [row.id], self.host.clock()
        )
        if row.id not in held:
            return  # its lease lapsed and another claimer has it: never sent twice from here
        contact = await anyio.to_thread.run_sync(cstore.find, self.store, row.contact_id)
        if contact is None:
            await anyio.to_thread.run_sync(
                outbox.mark_failed,
                self.store,
                row.id,
                "contact removed",
                True,
                None,
                1,
                self.host.clock(),
            )
            return
        bucket = self.buckets.setdefault(
            row.channel, TokenBucket(st.alerts.channel_rate_per_minute)
        )
        wait = bucket.take()
        if wait > 0:
            await anyio.to_thread.run_sync(
                outbox.release, self.store, row.id, wait, self.host.clock(), self.owner
            )
            return
        msg = outbox.body(self.store, row)
        crash_point("before-send")
        outcome = SendOutcome(ok=False, error=f"no answer within {SEND_DEADLINE_S:.0f} s")
        with anyio.move_on_after(SEND_DEADLINE_S):
            outcome = await self.send(contact, msg, ctx, row)
        crash_point("after-send")
        # Recorded even when the engine stops meanwhile: a send that went out is not repeated
        # for want of its mark, and a failure that gives up still warns the other contacts.
        with anyio.CancelScope(shield=True):
            await self._record(row, contact, outcome)
        telegram = self._telegram
        if outcome.ok and row.channel == "telegram" and telegram is not None:
            await telegram.after_sent(contact)

    async def _record(self, row: OutboxRow, contact: ContactRecord, outcome: SendOutcome) -> None:
        st = self.host.settings
        m = self.host.metrics
        m.notifications[(row.channel, "sent" if outcome.ok else "failed")] += 1
        if outcome.ok:
            self.sent += 1
            await anyio.to_thread.run_sync(
                outbox.mark_sent, self.store, row.id, outcome.message_id, self.host.clock()
            )
            self.host.events.publish(
                ReceiptEvent(self.host.clock(), row.id, row.incident_id, "sent", row.channel)
            )
            await self.delivered(contact.id)
            return
        self.failed += 1
        status = await anyio.to_thread.run_sync(
            outbox.mark_failed,
            self.store,
            row.id,
            outcome.error,
            outcome.permanent,
            outcome.retry_after,
            st.alerts.max_attempts,
            self.host.clock(),
        )
        ref = self.store.ref("contact", contact.id)
        log.warning(
            "delivery to %s over %s failed (%s): %s", ref, row.channel, status, outcome.error
        )
        reason = short_reason(row.channel, outcome.error)
        m.last_error = f"{contact.name} ({row.channel}): {reason}"[:160]
        m.last_error_contact = contact.id
        if outcome.permanent:
            await anyio.to_thread.run_sync(
                cstore.set_status, self.store, contact.id, "blocked", outcome.error
            )
        if (outcome.permanent or status == "dead") and row.kind != "test":
            # Nobody may be hearing about an incident: tell the other contacts.
            opened = await anyio.to_thread.run_sync(
                self.trouble.report, contact, row.channel, outcome.error, row.incident_id
            )
            if opened is not None and self.troubled is not None:
                self.troubled.add(contact.id)
        self.host.events.publish(
            ReceiptEvent(self.host.clock(), row.id, row.incident_id, "failed", row.channel)
        )

    async def delivered(self, contact_id: str, checked: bool = False) -> None:
        """A send to this contact worked: a delivery incident about it is over. `checked` (an
        operator's `notify test`) also unblocks a contact no incident is tracked for."""
        m = self.host.metrics
        if m.last_error_contact == contact_id:  # the status bar's last error is over too
            m.last_error, m.last_error_contact = "", None
        tracked = self.troubled is not None and contact_id in self.troubled
        if tracked or checked:
            if self.troubled is not None:
                self.troubled.discard(contact_id)  # before the await: a new one may open
            await anyio.to_thread.run_sync(self.trouble.clear, contact_id)

    async def send(
        self,
        contact: ContactRecord,
        msg: OutgoingMessage,
        ctx: ChannelContext,
        row: OutboxRow | None = None,
    ) -> SendOutcome:
        telegram = self._telegram
        if contact.channel == "telegram" and telegram is not None:
            return await telegram.send(contact, msg, row)
        return await self.send_direct(contact, msg, ctx, None)

    @staticmethod
    async def send_direct(
        contact: Any, msg: OutgoingMessage, ctx: ChannelContext, commands: Any
    ) -> SendOutcome:
        """Channels that need no engine state (everything but a live Telegram session)."""
        if contact.channel == "telegram":
            return SendOutcome(
                ok=False,
                error="Telegram sends only from a running engine, and none runs here: start "
                "`sysalert --daemon` (or the console) after `sysalert telegram login`",
            )
        return await channel_send(contact.channel, contact.address, msg, ctx)
