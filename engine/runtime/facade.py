"""What the console needs from an engine, the same whether it runs in-process or in a daemon.

`commands` has the command layer's methods (synchronous: call them from a thread worker);
`event_batches()` yields lists of event dicts ({"type": "result", ...}) as they happen, in batches so
a screen can apply 1,000 results a second in one refresh.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, Protocol


class ConsoleBackend(Protocol):
    mode: str  # "embedded" | "attached"
    commands: Any

    def event_batches(self) -> AsyncIterator[list[dict[str, Any]]]: ...

    def close(self) -> None: ...


class EmbeddedBackend:
    """The engine runs in the console's own event loop."""

    mode = "embedded"

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.commands = engine.commands

    async def event_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        sub = self.engine.events.subscribe(maxlen=50_000)
        try:
            while True:
                batch = await sub.get_batch(5000)
                yield [e.to_dict() for e in batch]
        finally:
            sub.close()

    def close(self) -> None:
        return None


class AttachedBackend:
    """A daemon owns the engine; commands and events travel over its API."""

    mode = "attached"

    def __init__(self, remote: Any) -> None:
        self.commands = remote
        self.remote = remote
        self._closed = threading.Event()

    async def event_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The daemon's event stream, read by a daemon thread (a blocking SSE read must neither
        stall the loop nor keep the process alive at exit); reconnects when the stream drops."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=50_000)

        def offer(ev: dict[str, Any]) -> None:
            if queue.full():
                queue.get_nowait()  # a slow console drops old events rather than stalling the stream
            queue.put_nowait(ev)

        def pump() -> None:
            while not self._closed.is_set():
                try:
                    for ev in self.remote.events():
                        if self._closed.is_set():
                            return
                        loop.call_soon_threadsafe(offer, ev)
                except Exception:
                    pass  # daemon restarting, or the loop is gone: try again unless closed
                self._closed.wait(1.0)

        threading.Thread(target=pump, name="sysalert-events", daemon=True).start()
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            yield batch

    def close(self) -> None:
        self._closed.set()
        self.remote.close()
