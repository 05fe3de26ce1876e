"""Telegram account commands: log in, log out, say who is logged in. The CLI and the console's
login screen both call these, so there is one login flow and one place the session is sealed.

The Telegram side (client, login flow, sealed session) is behind TelegramAccountPort
(engine.commands.ports); engine.telegram.account implements it and is given at construction.
"""

from __future__ import annotations

from typing import Any

import anyio

from engine.commands.base import CommandBase


class TelegramCommands(CommandBase):
    def make_telegram_client(self, session: str | None) -> Any:
        """A disconnected client on `session` (None: a fresh one); BadInput for bad config."""
        return self.telegram_account.make_client(self.settings, session)

    async def telegram_login(self, prompts: Any, by: str = "operator") -> dict[str, Any]:
        """Log in interactively and seal the session; a still-valid stored session is kept."""
        out = await self.telegram_account.login(self.store, self.settings, prompts)
        if not out.get("already"):
            await anyio.to_thread.run_sync(self.audit, "telegram.login", "telegram", by)
            self.hooks.telegram.session_changed()
        return out

    def telegram_status(self) -> dict[str, Any]:
        """Logged in or not, as whom (masked), and the running engine's view when there is one."""
        out = self.telegram_account.status(self.store)
        bridge = self.hooks.telegram
        if bridge.health_text is not None:  # a running engine's bridge
            out["health"] = {"ok": bool(bridge.healthy), "state": bridge.health_text}
        return out

    async def telegram_logout(self, by: str = "operator") -> dict[str, Any]:
        """End the session at Telegram when it can be reached; erase it here in any case (first:
        a running engine then sees a logout rather than a broken session)."""
        out = await self.telegram_account.logout(
            self.store, self.settings, self.hooks.telegram.session_changed
        )
        if out["was_logged_in"]:
            detail = None if out["ended_at_telegram"] else "local only"
            await anyio.to_thread.run_sync(self.audit, "telegram.logout", "telegram", by, detail)
        return out
