"""A running Engine whose Telegram account lives on the fake Telegram (tests/telegram_harness.py).

Everything is the production path: the engine's scheduler probes real loopback TCP targets,
alerting writes the outbox, the dispatcher hands Telegram rows to the bridge, and the bridge's
client is built by SysAlert's own build_client; only its MTProto sender is the harness's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import SecretStr
from sqlalchemy import select
from telethon.tl import types

from engine.config.settings import Settings
from engine.runtime.engine import Engine
from engine.security.crypto import KeyRing
from engine.security.privacy import mask_id
from engine.store import telegram_session as session_store
from engine.store.models import Notification
from engine.store.store import Store
from engine.telegram.account import TelegramAccount
from engine.telegram.client import build_client
from tests.telegram_harness import SETTINGS, FakeTelegram, install

ALICE, BOB, STRANGER = 777001, 777002, 777009


def use_fake_telegram(monkeypatch: Any, server: FakeTelegram) -> None:
    """Point the command layer's client factory at `server` (build_client still builds it)."""

    def factory(settings: Any, session: str | None) -> Any:
        return install(build_client(settings, session, environ={}), server)

    monkeypatch.setattr(TelegramAccount, "client_factory", factory)


def configure(settings: Settings) -> Settings:
    settings.telegram.api_id = SETTINGS.api_id
    settings.telegram.api_hash = SecretStr(SETTINGS.api_hash or "")
    settings.telegram.commands_per_minute = 600
    settings.engine.failure_threshold = 1
    settings.engine.recovery_threshold = 1
    return settings


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def until(
    predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition"
) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


@dataclass
class World:
    engine: Engine
    store: Store
    server: FakeTelegram

    @property
    def commands(self) -> Any:
        return self.engine.commands

    def notifications(self, **where: Any) -> list[Notification]:
        with self.store.session() as s:
            q = select(Notification)
            for k, v in where.items():
                q = q.where(getattr(Notification, k) == v)
            return list(s.exec(q.order_by(Notification.created_at)).scalars())

    def sent_to(self, peer_id: int) -> list[types.Message]:
        return [m for m in self.server.sent if getattr(m.peer_id, "user_id", None) == peer_id]

    def replies_to(self, message_id: int) -> list[types.Message]:
        return [
            m
            for m in self.server.sent
            if m.reply_to is not None and m.reply_to.reply_to_msg_id == message_id
        ]

    async def add_target(self, name: str, port: int, interval: str = "1s") -> Any:
        spec = f"tcp://127.0.0.1:{port}"
        rec = await anyio.to_thread.run_sync(
            lambda: self.commands.add_target(spec, name=name, interval=interval, timeout="1s")
        )
        return rec

    async def down_incident(self, name: str) -> dict[str, Any]:
        """A target on a closed port: down on its first check, one incident."""
        rec = await self.add_target(name, closed_port())
        await anyio.to_thread.run_sync(self.commands.check_target_now, rec.id)  # no start spread

        def firing() -> Any:
            incs = [i for i in self.commands.list_incidents() if i["target_id"] == rec.id]
            return incs[0] if incs else None

        return await until(firing, what=f"incident for {name}")

    async def connected(self) -> None:
        await until(lambda: self.engine.telegram.health_text.startswith("connected"), what="login")

    async def say(self, user: int, text: str, *, reply_to: int | None = None, chat_id=None):
        """A message from `user`; returns it once the client has handled it."""
        return await self.server.incoming(user, text, reply_to=reply_to, chat_id=chat_id)

    async def reply_text(self, message: types.Message, timeout: float = 5.0) -> str:
        found = await until(lambda: self.replies_to(message.id), timeout, "a reply")
        return found[0].message

    async def no_reply(self, message: types.Message, wait: float = 0.3) -> None:
        await asyncio.sleep(wait)
        assert self.replies_to(message.id) == []


@asynccontextmanager
async def running(
    tmp_path: Path,
    settings: Settings,
    keyring: KeyRing,
    server: FakeTelegram,
    *,
    logged_in: bool = True,
    setup: Callable[[Engine], None] | None = None,
) -> AsyncIterator[World]:
    """A started engine on a fresh SQLite store; its session is `server`'s account."""
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", keyring)
    if logged_in:
        session_store.save(store, server.authorized_session(), server.me.id, mask_id(server.me.id))
    engine = Engine(configure(settings), store)
    engine.telegram.poll_every = 0.05
    engine.telegram.service_options = {"backoff_initial": 0.05, "reconcile_every": None}
    if setup is not None:
        setup(engine)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            try:
                yield World(engine, store, server)
            finally:
                engine.stop()
    finally:
        store.close()
