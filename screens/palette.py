"""The command palette provider: every action of the command table, from any screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.actions import COMMANDS, MODES, SCOPES, Command, key_display


class ActionsProvider(Provider):
    def _entries(self) -> Iterator[tuple[Command, str, Callable[[], Awaitable[Any]]]]:
        here = getattr(self.screen, "SCOPE", "")
        for c in COMMANDS:
            if c.scope == "global":
                if c.action == "command_palette":
                    continue
                run = partial(self.app.run_action, c.action)
            elif c.scope in MODES:
                run = partial(self._in_mode, c.scope, c.action)
            elif c.scope == here:
                run = partial(self.screen.run_action, c.action)
            else:
                continue
            yield c, f"{SCOPES[c.scope]}: {c.help}", run

    async def _in_mode(self, mode: str, action: str) -> None:
        app = self.app
        if app.current_mode != mode:
            await app.switch_mode(mode)
        await app.screen_stack[0].run_action(action)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c, text, run in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    run,
                    text=text,
                    help=f"key: {key_display(c.key)}",
                )

    async def discover(self) -> Hits:
        for c, text, run in self._entries():
            yield DiscoveryHit(text, run, text=text, help=f"key: {key_display(c.key)}")
