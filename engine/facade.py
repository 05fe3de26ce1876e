"""What the console needs from an engine, the same whether it runs in-process or in a daemon.

`commands` has the command layer's methods (synchronous: call them from a thread worker);
`event_batches()` yields lists of event dicts ({"type": "result", ...}) as they happen, in batches so
a screen can apply 1,000 results a second in one refresh.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio


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

    async def event_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        send, recv = anyio.create_memory_object_stream[dict[str, Any]](50_000)

        def pump() -> None:
            try:
                for ev in self.remote.events():
                    anyio.from_thread.run_sync(_offer, send, ev)
            except Exception:
                return

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, pump, abandon_on_cancel=True)  # type: ignore[call-arg]
            while True:
                first = await recv.receive()
                batch = [first]
                while True:
                    try:
                        batch.append(recv.receive_nowait())
                    except anyio.WouldBlock:
                        break
                yield batch

    def close(self) -> None:
        self.remote.close()


def _offer(send: Any, ev: dict[str, Any]) -> None:
    try:
        send.send_nowait(ev)
    except anyio.WouldBlock:
        pass  # a slow console drops old events rather than stalling the stream
