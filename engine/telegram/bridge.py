"""The Telegram part of a running engine: the sealed session, the client service, the outbox
sender, read receipts and chat replies, wired to the engine's store, events and command layer.

It follows the sealed session rather than a flag: it starts when a session appears (a login from
the CLI, the console or another process) and stops when it goes (a logout), checking every
`poll_every` seconds or at once when told. A broken session turns its health red and opens one
local incident; nothing here can stop the engine, and other channels keep delivering.

Telethon is imported only when a session exists, so an engine without Telegram never loads it.
The engine is seen through `TelegramHost` (engine/telegram/ports.py); the bridge registers itself
as the dispatcher's Telegram sender (`Dispatcher.set_telegram_sender`) once, at construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio

from engine.core.errors import SysAlertError
from engine.core.events import ReceiptEvent
from engine.notify.message import SendOutcome
from engine.security.privacy import mask_id
from engine.store import contacts as cstore
from engine.store import telegram as tgstore
from engine.store import telegram_session as session_store
from engine.telegram import chats
from engine.telegram.bridge_chat import ChatHandler
from engine.telegram.chat_roles import AccessRequests

if TYPE_CHECKING:
    from engine.core.domain import ContactRecord
    from engine.notify.message import OutgoingMessage
    from engine.store.outbox import OutboxRow
    from engine.telegram.ports import TelegramHost
    from engine.telegram.receipts import ReadReceipt
    from engine.telegram.service import TelegramService

log = logging.getLogger(__name__)
LOCAL_INCIDENT = "telegram:session"
_GROUP_READERS_MAX = 5


class TelegramBridge:
    def __init__(
        self,
        host: TelegramHost,
        *,
        poll_every: float = 5.0,
        disconnect_grace: float = 120.0,
        service_options: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.store = host.store
        self.poll_every = poll_every
        self.disconnect_grace = disconnect_grace
        self.service_options = dict(service_options or {})  # backoff, reconcile_every (tests)
        self.service: TelegramService | None = None
        self.access_requests = AccessRequests()  # outlives sessions: one notice per stranger
        # The highest read receipt seen per chat, with its time: a receipt can overtake the
        # dispatcher storing the message id it covers, and must still count once the id is stored.
        self._read_upto: dict[int, tuple[int, float]] = {}
        self.chat = ChatHandler(self)
        self._version: str | None = None
        self._conf: Any = None
        self._display = "****"
        self._start_error: str | None = None  # why the session cannot start, None when it did
        self._starting = False
        self._down_since: float | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        # Telegram rows go through `send` (which says why when no session runs).
        host.alerting.dispatcher.set_telegram_sender(self)

    # ---- health (read from any thread: /health, `telegram status`) -----------------------------
    @property
    def healthy(self) -> bool:
        if self._start_error is not None:
            return False
        service = self.service
        if service is None:
            return True  # not logged in: Telegram is simply not in use
        if service.health == "ok":
            return True
        if service.health.startswith("broken"):
            return False
        since = self._down_since
        return since is None or time.monotonic() - since < self.disconnect_grace

    @property
    def health_text(self) -> str:
        if self._start_error is not None:
            return f"cannot start: {self._start_error}"
        if self._starting:
            return "starting"
        if self._version is None:
            return "not logged in"
        service = self.service
        if service is None:
            return "stopped"
        if service.health == "ok":
            return f"connected as {self._display}"
        if service.health.startswith("broken"):
            return f"session {service.health}; run `sysalert telegram login`"
        return "disconnected, reconnecting"

    def unavailable(self) -> str:
        """Why there is no Telegram sender now (the dispatcher's error for a Telegram row)."""
        if self._start_error is not None:
            return (
                f"the Telegram bridge cannot start ({self._start_error}); see the daemon log, "
                "it retries by itself and the alert waits in the outbox"
            )
        if self._starting:
            return "the Telegram bridge is starting; the alert waits in the outbox"
        if self._version is None:
            return "Telegram is not logged in: `sysalert telegram login`"
        return "the Telegram bridge is stopped; the alert waits in the outbox"

    def session_changed(self) -> None:
        """A login or logout happened: look at the store now (safe from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
            loop.call_soon_threadsafe(wake.set)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Runs for the engine's lifetime (in Engine.run's task group)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while True:
                # A start that fails raises: the engine's supervisor logs the traceback, shows the
                # bridge red and runs this again after its backoff (the session is not "started").
                await self._sync()
                self._check_alive()
                with anyio.move_on_after(self.poll_every):
                    await self._wake.wait()
                self._wake.clear()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop()

    async def _sync(self) -> None:
        version = await anyio.to_thread.run_sync(session_store.version, self.store)
        conf = self.host.settings.telegram
        if version == self._version and conf == self._conf and self._start_error is None:
            return
        await self._stop()
        self._version = self._conf = None
        self._start_error = None
        if version is not None:
            self._starting = True
            try:
                await self._start()
            except SysAlertError as exc:  # a setting to fix (api_id...): one clear line
                self._start_error = exc.message
                raise
            except Exception as exc:
                self._start_error = type(exc).__name__
                await self._stop()
                raise
            finally:
                self._starting = False
        self._version, self._conf = version, conf.model_copy()  # only once it really started

    def _check_alive(self) -> None:
        """The client service and the watcher run as tasks of their own: one that died of an
        error (not a broken session, which they report) is this task's crash, not a silence."""
        service = self.service
        for task in (service.task if service is not None else None, self._watcher):
            if task is not None and task.done() and not task.cancelled():
                exc = task.exception()
                if exc is not None:
                    self._start_error = type(exc).__name__
                    raise exc

    async def _start(self) -> None:
        from engine.telegram.chat_commands import RateLimiter
        from engine.telegram.service import TelegramService

        session = await anyio.to_thread.run_sync(session_store.load, self.store)
        account = await anyio.to_thread.run_sync(session_store.account, self.store)
        self._display = account.display if account else "****"
        client = self.host.commands.make_telegram_client(session)
        conf = self.host.settings.telegram
        per_minute = conf.commands_per_minute
        self.chat = ChatHandler(self)  # forgets failed contact lookups: a new session may succeed
        self.service = TelegramService(
            client,
            on_broken=self._on_broken,
            on_read=self._on_read,
            on_message=self.chat.on_message,
            on_reaction=self.chat.on_reaction if conf.ack_on_reaction else None,
            pending_peers=self._pending_peers,
            limiter=RateLimiter(per_minute / 60.0, per_minute),
            **self.service_options,
        )
        self._down_since = time.monotonic()
        await self.service.start()
        self._watcher = asyncio.create_task(self._watch(self.service), name="telegram-watch")

    async def _stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
            self._watcher = None
        service, self.service = self.service, None
        if service is not None:
            await service.stop()

    async def _watch(self, service: TelegramService) -> None:
        """Track how long we have been offline; once connected, close the local incident."""
        cleared = False
        while not service.health.startswith("broken"):
            if service.health == "ok":
                self._down_since = None
                if not cleared:
                    cleared = True
                    await anyio.to_thread.run_sync(
                        self.host.alerting.resolve_local_incident, LOCAL_INCIDENT
                    )
                await anyio.sleep(1.0)
            else:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                await service.wait_for("ok", 1.0)

    async def _on_broken(self, reason: str) -> None:
        version = await anyio.to_thread.run_sync(session_store.version, self.store)
        if version != self._version:
            log.info("telegram session ended by a logout or a new login")
            self.session_changed()
            return
        summary = (
            f"Telegram session broken ({reason}): alerts cannot reach Telegram contacts "
            "until `sysalert telegram login`"
        )
        await anyio.to_thread.run_sync(
            self.host.alerting.open_local_incident, LOCAL_INCIDENT, "telegram", summary
        )
        self.host.alerting.dispatcher.wake()

    # ---- delivery (the dispatcher's TelegramSender) ------------------------------------------
    async def send(
        self, contact: ContactRecord, msg: OutgoingMessage, row: OutboxRow | None = None
    ) -> SendOutcome:
        """Send one outbox row; a resolved notice edits (or answers) the contact's first alert."""
        from engine.notify.templates import render_text

        service = self.service
        if service is None:
            return SendOutcome(ok=False, error=self.unavailable())
        text = render_text(msg)
        ref = contact.resolved or contact.address
        incident_id = row.incident_id if row is not None else None
        out = None
        if msg.kind == "resolved" and incident_id:
            original = await anyio.to_thread.run_sync(
                tgstore.original_alert, self.store, incident_id, contact.id
            )
            if original is not None:
                out = await service.edit_or_reply_resolved(ref, original, text)
        if out is None:
            out = await service.send_alert(ref, text)
        if out.resolved and out.resolved != contact.resolved:
            await anyio.to_thread.run_sync(
                cstore.set_resolved, self.store, contact.id, out.resolved
            )
        return out

    # ---- receipts -------------------------------------------------------------------------------
    async def _on_read(self, receipt: ReadReceipt) -> None:
        at = receipt.at.timestamp()
        seen = self._read_upto.get(receipt.chat_id)
        if seen is None or receipt.max_id > seen[0]:
            self._read_upto[receipt.chat_id] = (receipt.max_id, at)
        contacts = await anyio.to_thread.run_sync(
            chats.contacts_in_chat, self.store, receipt.chat_id
        )
        if contacts:
            await self._apply_read(contacts, receipt.chat_id, receipt.max_id, at)

    async def after_sent(self, contact: ContactRecord) -> None:
        """A row was just marked sent: a receipt for its chat that came first applies now."""
        fresh = await anyio.to_thread.run_sync(cstore.find, self.store, contact.id)
        chat = chats.chat_id_for(fresh) if fresh is not None else None
        seen = self._read_upto.get(chat) if chat is not None else None
        if fresh is not None and chat is not None and seen is not None:
            await self._apply_read([fresh], chat, seen[0], seen[1])

    async def _apply_read(
        self, contacts: list[ContactRecord], chat_id: int, max_id: int, at: float
    ) -> None:
        marks = await anyio.to_thread.run_sync(tgstore.mark_read, self.store, contacts, max_id, at)
        for m in marks:
            self.host.events.publish(
                ReceiptEvent(time.time(), m.notification_id, m.incident_id, "read", "telegram")
            )
        if marks and chat_id < 0:
            await self._group_readers(contacts, marks)

    async def _group_readers(
        self, contacts: list[ContactRecord], marks: list[tgstore.ReadMark]
    ) -> None:
        """Who in a small group read each alert, where Telegram says (extra detail only)."""
        from engine.telegram.receipts import read_participants

        service = self.service
        peers = {c.id: c.resolved for c in contacts if c.resolved}
        if service is None:
            return
        people = {chats.chat_id_for(c): c.name for c in await self._all_contacts()}
        for m in marks[:_GROUP_READERS_MAX]:
            peer = peers.get(m.contact_id)
            if peer is None:
                continue
            try:
                readers = await read_participants(service.client, peer, m.message_id)
            except Exception as exc:
                log.info("telegram read participants unavailable: %s", type(exc).__name__)
                return
            for r in readers:
                name = people.get(r.reader_id) or f"user {mask_id(r.reader_id or 0)}"
                await anyio.to_thread.run_sync(
                    tgstore.add_reader, self.store, m.notification_id, name, r.at.timestamp()
                )

    async def _all_contacts(self) -> list[ContactRecord]:
        return await anyio.to_thread.run_sync(chats.telegram_contacts, self.store)

    async def _pending_peers(self) -> list[str]:
        return await anyio.to_thread.run_sync(tgstore.pending_peers, self.store)
