"""The Telegram part of the engine's life: connect, stay connected, notice a dead session.

A broken or revoked session must not take the engine down: it turns health to "broken: <reason>",
calls on_broken once (the engine raises a local incident) and stops trying. Network trouble turns
health to "disconnected" and reconnects with exponential backoff. After every (re)connect, and
every `reconcile_every` seconds, read state is polled for chats with unread alerts, so a receipt
pushed while we were away is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable

from telethon import TelegramClient
from telethon.tl import functions, types

from engine.telegram import failures
from engine.telegram.chat_commands import RateLimiter
from engine.telegram.delivery import TelegramSendOutcome, edit_or_reply_resolved, send_alert
from engine.telegram.inbound import OnMessage, attach_handlers, detach_handlers
from engine.telegram.reactions import OnReaction
from engine.telegram.receipts import OnRead, ReadReceipt, poll_read_state

log = logging.getLogger(__name__)

OnBroken = Callable[[str], Awaitable[None] | None]
PendingPeers = Callable[[], Awaitable[Iterable[str]]]


class NotLoggedIn(Exception):
    """The session has an auth key but no account behind it."""


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.8, 1.2)


class TelegramService:
    """Owns one client for the engine's lifetime. All public methods are safe to call in any
    state; none raises because Telegram is unhappy."""

    def __init__(
        self,
        client: TelegramClient,
        *,
        on_broken: OnBroken | None = None,
        on_read: OnRead | None = None,
        on_message: OnMessage | None = None,
        on_reaction: OnReaction | None = None,
        pending_peers: PendingPeers | None = None,
        limiter: RateLimiter | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 300.0,
        reconcile_every: float | None = 300.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float], float] = _jitter,
    ) -> None:
        self._client = client
        self._on_broken = on_broken
        self._on_read = on_read
        self._on_message = on_message
        self._on_reaction = on_reaction
        self._pending_peers = pending_peers
        self._limiter = limiter
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._reconcile_every = reconcile_every
        self._sleep = sleep
        self._jitter = jitter
        self._health = "disconnected"
        self._broken: str | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._handlers: list = []
        self._changed = asyncio.Event()
        self.me_id: int | None = None
        self.connects = 0

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The connect-and-watch task while it runs (the bridge checks it has not died)."""
        return self._task

    @property
    def client(self) -> TelegramClient:
        return self._client

    @property
    def health(self) -> str:
        """One of: ok, disconnected, broken: <reason> (what /health shows)."""
        return self._health

    def _set_health(self, value: str) -> None:
        if value != self._health:
            log.info("telegram health: %s", value)
        self._health = value
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, prefix: str, timeout: float) -> bool:
        """Wait until health starts with `prefix` ("ok", "broken"...); False on timeout."""

        async def _wait() -> None:
            while not self._health.startswith(prefix):
                await self._changed.wait()

        try:
            await asyncio.wait_for(_wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def start(self) -> None:
        """Attach handlers and start connecting in the background; returns at once."""
        if self._task is not None:
            return
        self._stopping = False
        if any(cb is not None for cb in (self._on_read, self._on_message, self._on_reaction)):
            self._handlers = attach_handlers(
                self._client,
                self._on_read or _ignore_read,
                self._on_message or _ignore_message,
                on_reaction=self._on_reaction,
                limiter=self._limiter,
            )
        self._task = asyncio.create_task(self._run(), name="telegram-service")

    async def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            await self._client.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        detach_handlers(self._client, self._handlers)
        self._handlers = []
        if self._broken is None:
            self._set_health("disconnected")

    async def _run(self) -> None:
        delay = self._backoff_initial
        while not self._stopping and self._broken is None:
            try:
                if self._client.session is None:
                    raise NotLoggedIn("logged out")
                await self._client.connect()
                await self._check_authorized()
                self.connects += 1
                self._set_health("ok")
                delay = self._backoff_initial
                await self.reconcile()
                await self._watch()
                if self._stopping or self._broken is not None:
                    break
                self._set_health("disconnected")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if failures.is_session_broken(exc) or isinstance(exc, NotLoggedIn):
                    await self._mark_broken(failures.broken_reason(exc))
                    break
                # A network error is routine; anything else is a bug or an incompatible
                # Telethon, and its traceback must reach the log.
                log.warning(
                    "telegram connection failed: %s",
                    type(exc).__name__,
                    exc_info=None if isinstance(exc, OSError | TimeoutError) else exc,
                )
                self._set_health("disconnected")
            with contextlib.suppress(Exception):
                await self._client.disconnect()
            if self._stopping:
                break
            await self._sleep(self._jitter(delay))
            delay = min(delay * 2, self._backoff_max)
        with contextlib.suppress(Exception):
            await self._client.disconnect()

    async def _check_authorized(self) -> None:
        users = await self._client(functions.users.GetUsersRequest([types.InputUserSelf()]))
        if not users or not isinstance(users[0], types.User):
            raise NotLoggedIn("no account behind this session")
        self.me_id = int(users[0].id)

    async def _watch(self) -> None:
        """Wait for the disconnect (raising what broke the update loop), reconciling meanwhile."""
        runner = asyncio.ensure_future(self._client.run_until_disconnected())
        try:
            while True:
                done, _ = await asyncio.wait({runner}, timeout=self._reconcile_every)
                if done:
                    runner.result()
                    return
                await self.reconcile()
        finally:
            if not runner.done():
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner

    async def reconcile(self) -> list[ReadReceipt]:
        """Poll read state for the pending peers and feed on_read. Only a broken session raises."""
        if self._on_read is None or self._pending_peers is None:
            return []
        try:
            peers = list(await self._pending_peers())
            receipts = await poll_read_state(self._client, peers) if peers else []
        except Exception as exc:
            if failures.is_session_broken(exc):
                raise
            log.warning("telegram read-state poll failed: %s", type(exc).__name__)
            return []
        for receipt in receipts:
            try:
                await self._on_read(receipt)
            except Exception as exc:
                log.warning("read receipt handler failed: %s", type(exc).__name__)
        return receipts

    async def _mark_broken(self, reason: str) -> None:
        if self._broken is not None:
            return
        self._broken = reason
        self._set_health(f"broken: {reason}")
        log.warning("telegram session broken (%s); log in again", reason)
        if self._on_broken is not None:
            try:
                result = self._on_broken(reason)
                if result is not None:
                    await result
            except Exception as exc:
                log.warning("on_broken callback failed: %s", type(exc).__name__)
        if self._task is not None and asyncio.current_task() is not self._task:
            # Ends run_until_disconnected so the supervisor stops; scheduled, not awaited,
            # because this may run inside an event handler that disconnect() would cancel.
            self._client.disconnect()

    async def send_alert(
        self, peer_ref: str, text: str, reply_to: int | None = None
    ) -> TelegramSendOutcome:
        if self._broken is not None:
            return TelegramSendOutcome(
                ok=False, error=f"Telegram session is broken ({self._broken})"
            )
        return await send_alert(self._client, peer_ref, text, reply_to, on_broken=self._mark_broken)

    async def edit_or_reply_resolved(
        self, peer: str, message_id: int, text: str, *, prefer: str = "edit"
    ) -> TelegramSendOutcome:
        if self._broken is not None:
            return TelegramSendOutcome(
                ok=False, error=f"Telegram session is broken ({self._broken})"
            )
        return await edit_or_reply_resolved(
            self._client, peer, message_id, text, prefer=prefer, on_broken=self._mark_broken
        )


async def _ignore_read(_receipt: ReadReceipt) -> None:
    return None


async def _ignore_message(_message) -> None:
    return None
