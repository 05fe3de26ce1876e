"""Typed engine events on an in-memory stream with many readers.

Each subscriber has its own bounded buffer; when a reader falls behind, its oldest events are
dropped (and counted) so a slow screen or API client never slows probing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    ts: float

    @property
    def type(self) -> str:
        return _TYPE_NAMES[type(self)]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = self.type
        return d


@dataclass(slots=True)
class ResultEvent(Event):
    target_id: str
    ok: bool
    latency_ms: float | None
    error_class: str | None
    state: str
    value: float | None = None  # a system metric's percent, a command's number, ...


@dataclass(slots=True)
class StateEvent(Event):
    target_id: str
    old: str
    new: str
    error_class: str | None = None


@dataclass(slots=True)
class IncidentEvent(Event):
    incident_id: str
    state: str
    target_id: str | None = None
    action: str = ""


@dataclass(slots=True)
class ReceiptEvent(Event):
    notification_id: str
    incident_id: str | None
    status: str  # sent | read | failed
    channel: str = ""


@dataclass(slots=True)
class MaintenanceEvent(Event):
    target_id: str | None
    active: bool


@dataclass(slots=True)
class TargetsChangedEvent(Event):
    target_id: str | None = None
    removed: bool = False


@dataclass(slots=True)
class BenchmarkEvent(Event):
    """A benchmark run: its score against the baseline (status ok, regressed, failed, pending)."""

    benchmark_id: str
    ok: bool
    score: float | None
    baseline: float | None
    status: str
    delta_pct: float | None = None
    unit: str = ""


_TYPE_NAMES: dict[type, str] = {
    ResultEvent: "result",
    StateEvent: "state",
    IncidentEvent: "incident",
    ReceiptEvent: "receipt",
    MaintenanceEvent: "maintenance",
    TargetsChangedEvent: "targets",
    BenchmarkEvent: "benchmark",
}
EVENT_TYPES = {v: k for k, v in _TYPE_NAMES.items()}


def event_from_dict(d: dict[str, Any]) -> Event:
    d = dict(d)
    cls = EVENT_TYPES[d.pop("type")]
    return cls(**d)


@dataclass
class Subscription:
    """One reader's buffer. Iterate it with `async for`, or drain it in batches with `get_batch`."""

    bus: EventBus
    maxlen: int
    types: frozenset[str] | None = None
    buffer: deque[Event] = field(default_factory=deque)
    dropped: int = 0
    _waiter: asyncio.Event = field(default_factory=asyncio.Event)
    id: int = field(default_factory=itertools.count().__next__)

    def push(self, ev: Event) -> None:
        if self.types is not None and ev.type not in self.types:
            return
        if len(self.buffer) >= self.maxlen:
            self.buffer.popleft()
            self.dropped += 1
        self.buffer.append(ev)
        self._waiter.set()

    async def get_batch(self, max_items: int = 1000) -> list[Event]:
        while not self.buffer:
            self._waiter.clear()
            await self._waiter.wait()
        n = min(max_items, len(self.buffer))
        return [self.buffer.popleft() for _ in range(n)]

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self.buffer:
            self._waiter.clear()
            await self._waiter.wait()
        return self.buffer.popleft()

    def close(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    """Publish is O(subscribers) with no awaits: it never blocks the publisher."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published = 0
        # Readers that take result events: the engine builds one per check only when there is
        # one (the console's target orders, for instance, read state events alone).
        self.result_readers = 0

    def subscribe(self, maxlen: int = 10_000, types: set[str] | None = None) -> Subscription:
        sub = Subscription(self, maxlen, frozenset(types) if types else None)
        self._subs.append(sub)
        self._count_result_readers()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        self._count_result_readers()

    def _count_result_readers(self) -> None:
        self.result_readers = sum(1 for s in self._subs if s.types is None or "result" in s.types)

    def publish(self, ev: Event) -> None:
        self.published += 1
        for sub in self._subs:
            sub.push(ev)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
