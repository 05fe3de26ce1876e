"""The one place work is marshalled onto the engine's event loop from any thread.

The loop owns the in-memory target view; the command layer, the store's key rotation and worker
threads change or read it only through `call_in_loop` (fire and forget) or `on_loop` (wait for
the answer), both defined here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from engine.core.domain import TargetRecord

T = TypeVar("T")


class LoopPort:
    """Mixin of the Engine: which loop it runs on, and how another thread reaches it."""

    targets: dict[str, TargetRecord]
    _loop_ref: asyncio.AbstractEventLoop | None = None
    _loop_thread: int | None = None

    def bind_loop(self) -> None:
        """Called once by `Engine.run` on its loop: from now on the loop owns the engine's state."""
        self._loop_ref = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the engine runs on; None before `run` (tools, tests that never start it)."""
        return self._loop_ref

    def on_loop_thread(self) -> bool:
        return self._loop_ref is None or threading.get_ident() == self._loop_thread

    def call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the loop: at once when already there (or not running), else queued."""
        loop = self._loop_ref
        if loop is None or threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def on_loop(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """`fn()` computed on the loop and its answer handed to this thread (a fraction of a
        millisecond; the loop never waits on a worker synchronously, so this cannot deadlock).
        A loop that is closed or no longer running changes nothing any more: `fn` runs here."""
        loop = self._loop_ref
        if loop is None or threading.get_ident() == self._loop_thread or not loop.is_running():
            return fn()
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def take() -> None:
            if fut.cancelled():
                return
            try:
                fut.set_result(fn())
            except Exception as exc:  # the caller's thread raises it
                fut.set_exception(exc)

        try:
            loop.call_soon_threadsafe(take)
            return fut.result(timeout=timeout)
        except (RuntimeError, concurrent.futures.TimeoutError):
            fut.cancel()
            return fn()

    async def run_in_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await `make()` on the engine's loop from another loop or thread (the console's, a
        test's): a coroutine whose work touches loop-owned state runs there, not here."""
        loop = self._loop_ref
        if loop is None or loop.is_closed() or _running_loop() is loop:
            return await make()

        async def job() -> T:
            return await make()

        fut = asyncio.run_coroutine_threadsafe(job(), loop)
        return await asyncio.wrap_future(fut)

    def snapshot(self) -> list[TargetRecord]:
        """Every target record as a list, for a walk outside the event loop.

        The loop owns `targets` and adds and removes entries while worker threads run; a worker
        iterating the dict meets "dictionary changed size during iteration". So the copy is made
        on the loop (`on_loop`)."""
        return self.on_loop(lambda: list(self.targets.values()))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
