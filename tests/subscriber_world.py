"""Shared set-up for the subscriber chat tests: a running engine whose Telegram account lives on
the fake Telegram (tests/telegram_harness.py), with a config admin, two subscribers-to-be, an
operator contact and a stranger. Messages go in as real TL updates; answers come back as the
SendMessageRequests the client really sent."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.config.settings import Settings
from engine.security.crypto import KeyRing
from tests.telegram_engine import ALICE, STRANGER, World, running, until, use_fake_telegram
from tests.telegram_harness import FakeTelegram

ADMIN, CAROL, DAVE, SUBADMIN = 777101, 77441265, 777202, 777303
USERS = {
    ALICE: "alice_oncall",
    ADMIN: "the_admin",
    CAROL: "carol_ops",
    DAVE: "dave_ops",
    SUBADMIN: "sub_admin",
    STRANGER: "mallory",
}

__all__ = ["ADMIN", "ALICE", "CAROL", "DAVE", "STRANGER", "SUBADMIN", "World", "until"]


@pytest.fixture(name="server")
def server_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """The fake Telegram with every user of these tests (import it as `server_fixture`)."""
    s = FakeTelegram()
    for uid, name in USERS.items():
        s.add_user(uid, username=name)
    use_fake_telegram(monkeypatch, s)
    yield s
    assert s.bugs == [] and s.unhandled == []


@asynccontextmanager
async def chat_world(
    tmp_path: Path,
    settings: Settings,
    keyring: KeyRing,
    server: FakeTelegram,
    *,
    profile: str = "self-hosted",
    per_minute: int | None = None,
    subscribers: tuple[int, ...] = (),
) -> AsyncIterator[World]:
    """A started engine, logged in; ADMIN is a config admin; `subscribers` are added up front."""
    settings.telegram.admins = [ADMIN]
    settings.general.profile = profile  # type: ignore[assignment]

    def setup(engine: Any) -> None:
        if per_minute is not None:
            engine.settings.telegram.commands_per_minute = per_minute

    async with running(tmp_path, settings, keyring, server, setup=setup) as w:
        await w.connected()
        for chat in subscribers:
            w.commands.add_subscriber(chat)
        yield w


async def ask(w: World, user: int, text: str, timeout: float = 5.0) -> str:
    """Send `text` as `user` and return the account's reply to it."""
    return await w.reply_text(await w.say(user, text), timeout)


async def silent(w: World, user: int, text: str, wait: float = 0.2) -> None:
    await w.no_reply(await w.say(user, text), wait)


@contextmanager
def listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP port that accepts connections (the kernel's backlog answers the probes)."""
    srv = socket.create_server((host, 0))
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def owned_targets(w: World, chat: int) -> list[Any]:
    sub = w.commands.find_subscriber(chat)
    return [] if sub is None else w.commands.list_targets(sub.id)


async def settle(w: World, seconds: float = 0.2) -> None:
    """Let the engine commit what it holds (results, runtime state)."""
    await anyio.sleep(seconds)
    await w.engine.committed()
