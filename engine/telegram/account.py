"""The Telegram account behind the command layer's login, logout and status (its
TelegramAccountPort): where a client is made, the interactive login, and the sealed session.

Telethon is imported only inside the methods: every other command (and every CLI call) would
otherwise pay for loading it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from engine.config.settings import Settings
from engine.core.errors import SysAlertError
from engine.store import telegram_session as session_store
from engine.store.store import Store

if TYPE_CHECKING:
    from telethon import TelegramClient

    from engine.telegram.client import TelegramSettings
    from engine.telegram.login import LoginPrompts

log = logging.getLogger(__name__)
ClientFactory = Callable[["TelegramSettings", "str | None"], "TelegramClient"]


class TelegramAccount:
    """Stateless: every method takes the store and settings it works on."""

    # The one seam where a Telegram client is made (login, logout and the engine's bridge).
    # None means engine.telegram.client.build_client; tests set a factory that builds the client
    # the same way and attaches the fake Telegram's transport.
    client_factory: ClientFactory | None = None

    def make_client(self, settings: Settings, session: str | None) -> TelegramClient:
        """A disconnected client on `session` (None: a fresh one); BadInput for bad config."""
        from engine.telegram.client import TelegramSettings

        factory = TelegramAccount.client_factory
        if factory is None:
            from engine.telegram.client import build_client

            factory = build_client
        return factory(TelegramSettings.from_config(settings.telegram), session)

    def status(self, store: Store) -> dict[str, Any]:
        """Logged in or not, as whom (masked), since when."""
        logged_in = session_store.version(store) is not None
        account = session_store.account(store) if logged_in else None
        return {
            "logged_in": logged_in,
            "account": account.display if account else None,
            "since": account.saved_at if account else None,
        }

    async def login(
        self, store: Store, settings: Settings, prompts: LoginPrompts
    ) -> dict[str, Any]:
        """Log in interactively and seal the session; a still-valid stored session is kept
        (`already`: nothing changed)."""
        from engine.telegram.login import login

        stored = await anyio.to_thread.run_sync(session_store.load, store)
        if stored:
            display = await self._still_logged_in(store, settings, stored)
            if display is not None:
                return {"logged_in": True, "account": display, "already": True}
        client = self.make_client(settings, None)
        try:
            result = await login(client, prompts)
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()
        await anyio.to_thread.run_sync(
            session_store.save, store, result.session_string, result.user_id, result.display
        )
        return {"logged_in": True, "account": result.display, "already": False}

    async def _still_logged_in(self, store: Store, settings: Settings, stored: str) -> str | None:
        """The account's masked id when the stored session still works, else None."""
        from engine.telegram.login import LoginError

        try:
            client = self.make_client(settings, stored)
        except SysAlertError:
            return None  # a corrupt stored session: log in afresh
        try:
            await client.connect()
            me = await client.get_me()  # Telethon answers None for a revoked session
        except (OSError, ConnectionError) as exc:
            raise LoginError(
                f"cannot reach Telegram ({type(exc).__name__})",
                "check the network and [telegram] server",
            ) from None
        except Exception as exc:
            log.info("stored telegram session unusable: %s", type(exc).__name__)
            return None
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()
        if me is None:
            return None
        account = await anyio.to_thread.run_sync(session_store.account, store)
        return account.display if account else None

    async def logout(
        self, store: Store, settings: Settings, erased: Callable[[], None]
    ) -> dict[str, Any]:
        """End the session at Telegram when it can be reached; erase it here in any case.

        The sealed copy goes first (then `erased` is called), so a running engine that meets the
        revoked key sees a logout rather than a broken session (and raises no incident).
        """
        from engine.telegram.login import logout

        stored = await anyio.to_thread.run_sync(session_store.load, store)
        if not stored:
            return {"was_logged_in": False, "ended_at_telegram": False}
        await anyio.to_thread.run_sync(session_store.erase, store)
        erased()
        ended = False
        try:
            client = self.make_client(settings, stored)
        except SysAlertError:
            client = None
        if client is not None:
            try:
                ended = await logout(client)
            finally:
                with contextlib.suppress(Exception):
                    await client.disconnect()
        return {"was_logged_in": True, "ended_at_telegram": ended}
