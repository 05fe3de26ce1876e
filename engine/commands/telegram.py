"""Telegram account commands: log in, log out, say who is logged in. The CLI and the console's
login screen both call these, so there is one login flow and one place the session is sealed.

Telethon is imported only inside the methods: every other command (and every CLI call) would
otherwise pay for loading it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from engine.commands.base import CommandBase
from engine.core.errors import SysAlertError
from engine.telegram import session_store

if TYPE_CHECKING:
    from telethon import TelegramClient

    from engine.telegram.client import TelegramSettings
    from engine.telegram.login import LoginPrompts

log = logging.getLogger(__name__)
ClientFactory = Callable[["TelegramSettings", "str | None"], "TelegramClient"]


class TelegramCommands(CommandBase):
    # The one seam where a Telegram client is made (login, logout and the engine's bridge).
    # None means engine.telegram.client.build_client; tests set a factory that builds the client
    # the same way and attaches the fake Telegram's transport.
    telegram_client_factory: ClientFactory | None = None

    def telegram_settings(self) -> TelegramSettings:
        from engine.telegram.client import TelegramSettings

        return TelegramSettings.from_config(self.settings.telegram)

    def make_telegram_client(self, session: str | None) -> TelegramClient:
        """A disconnected client on `session` (None: a fresh one); BadInput for bad config."""
        factory = TelegramCommands.telegram_client_factory
        if factory is None:
            from engine.telegram.client import build_client

            factory = build_client
        return factory(self.telegram_settings(), session)

    async def telegram_login(self, prompts: LoginPrompts, by: str = "operator") -> dict[str, Any]:
        """Log in interactively and seal the session; a still-valid stored session is kept."""
        from engine.telegram.login import login

        stored = await anyio.to_thread.run_sync(session_store.load, self.store)
        if stored:
            display = await self._still_logged_in(stored)
            if display is not None:
                return {"logged_in": True, "account": display, "already": True}
        client = self.make_telegram_client(None)
        try:
            result = await login(client, prompts)
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()
        await anyio.to_thread.run_sync(
            session_store.save, self.store, result.session_string, result.user_id, result.display
        )
        await anyio.to_thread.run_sync(self.audit, "telegram.login", "telegram", by)
        self._telegram_session_changed()
        return {"logged_in": True, "account": result.display, "already": False}

    async def _still_logged_in(self, stored: str) -> str | None:
        """The account's masked id when the stored session still works, else None."""
        from engine.telegram.login import LoginError

        try:
            client = self.make_telegram_client(stored)
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
        account = await anyio.to_thread.run_sync(session_store.account, self.store)
        return account.display if account else None

    def telegram_status(self) -> dict[str, Any]:
        """Logged in or not, as whom (masked), and the running engine's view when there is one."""
        logged_in = session_store.version(self.store) is not None
        account = session_store.account(self.store) if logged_in else None
        out: dict[str, Any] = {
            "logged_in": logged_in,
            "account": account.display if account else None,
            "since": account.saved_at if account else None,
        }
        bridge = self.hooks.telegram
        if bridge.health_text is not None:  # a running engine's bridge
            out["health"] = {"ok": bool(bridge.healthy), "state": bridge.health_text}
        return out

    async def telegram_logout(self, by: str = "operator") -> dict[str, Any]:
        """End the session at Telegram when it can be reached; erase it here in any case.

        The sealed copy goes first, so a running engine that meets the revoked key sees a logout
        rather than a broken session (and raises no incident).
        """
        from engine.telegram.login import logout

        stored = await anyio.to_thread.run_sync(session_store.load, self.store)
        if not stored:
            return {"was_logged_in": False, "ended_at_telegram": False}
        await anyio.to_thread.run_sync(session_store.erase, self.store)
        self._telegram_session_changed()
        ended = False
        try:
            client = self.make_telegram_client(stored)
        except SysAlertError:
            client = None
        if client is not None:
            try:
                ended = await logout(client)
            finally:
                with contextlib.suppress(Exception):
                    await client.disconnect()
        await anyio.to_thread.run_sync(
            self.audit, "telegram.logout", "telegram", by, None if ended else "local only"
        )
        return {"was_logged_in": True, "ended_at_telegram": ended}

    def _telegram_session_changed(self) -> None:
        self.hooks.telegram.session_changed()
