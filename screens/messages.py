"""Messages between thread workers, the App's event pump and the screens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message


class Reply(Message):
    """A command finished in a worker thread; `then` runs on the event loop with its value."""

    def __init__(self, then: Callable[[Any], None] | None, value: Any) -> None:
        super().__init__()
        self.then = then
        self.value = value


class Failed(Message):
    """A command raised; `fail` (if given) handles it, otherwise the screen shows the sentence."""

    def __init__(self, fail: Callable[[BaseException], None] | None, error: BaseException) -> None:
        super().__init__()
        self.fail = fail
        self.error = error


class EngineEvents(Message):
    """Engine events gathered over a short window (the App coalesces so screens redraw once)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__()
        self.events = events

    def types(self) -> set[str]:
        return {e.get("type", "") for e in self.events}
