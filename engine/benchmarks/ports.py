"""What the benchmark runner uses from the engine: a small port, so benchmarks never import the
Engine class (the Engine satisfies it structurally)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting
    from engine.alerting.ports import Auditor
    from engine.config.settings import Settings
    from engine.core.events import EventBus
    from engine.store.store import Store

T = TypeVar("T")


class BenchmarkHost(Protocol):
    """The store, settings, clock, event bus, audit log, alerting and loop of the engine."""

    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def commands(self) -> Auditor: ...
    @property
    def alerting(self) -> Alerting: ...
    @property
    def running(self) -> bool: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...

    def clock(self) -> float: ...

    def call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None: ...

    async def run_in_loop(self, make: Callable[[], Awaitable[T]]) -> T: ...
