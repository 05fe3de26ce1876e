"""What the API uses from a running engine, declared: the Engine (engine.runtime, above this layer
and never imported here) satisfies these protocols structurally.

One protocol per part of the API, so each reads only what it needs: the ping path records and
waits for a commit, /metrics reads counters, /health reads the parts' states, the REST routes call
the command layer and lay the live state over what the store says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from engine.commands import Commands
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.events import EventBus
from engine.heartbeats.heartbeat import HeartbeatState
from engine.store.history import ResultWriter
from engine.store.store import Store
from engine.timing.scheduler import Scheduler


class HeartbeatsPort(Protocol):
    @property
    def states(self) -> Mapping[str, HeartbeatState]: ...

    def record(self, token: str, kind: str, exit_status: int | None = None) -> Any:
        """Fold one ping in; None for an unknown token (durable at the next commit)."""


class AlertingPort(Protocol):
    @property
    def heartbeats(self) -> HeartbeatsPort: ...


class PingSink(Protocol):
    """The heartbeat ping path (ping_protocol and the ASGI fallback)."""

    @property
    def alerting(self) -> AlertingPort: ...

    def when_committed(self, callback: Callable[[Exception | None], None]) -> None: ...


class HistogramView(Protocol):
    @property
    def total(self) -> float: ...

    def cumulative(self) -> list[tuple[str, int]]: ...


class CountersView(Protocol):
    @property
    def probes(self) -> Mapping[tuple[str, str], int]: ...
    @property
    def latency(self) -> Mapping[str, HistogramView]: ...
    @property
    def notifications(self) -> Mapping[tuple[str, str], int]: ...
    @property
    def pings(self) -> Mapping[str, int]: ...


class SupervisorView(Protocol):
    def report(self) -> dict[str, dict[str, Any]]: ...
    def failing(self) -> dict[str, str]: ...
    def restarts(self) -> dict[str, int]: ...


class TelegramView(Protocol):
    @property
    def healthy(self) -> bool: ...
    @property
    def health_text(self) -> str | None: ...


class WatchdogView(Protocol):
    @property
    def configured(self) -> bool: ...

    def health(self) -> dict[str, Any]: ...


class HealthSource(Protocol):
    """What /health reports on (and the watchdog pings by)."""

    @property
    def running(self) -> bool: ...
    @property
    def mode(self) -> str: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def targets(self) -> Mapping[str, TargetRecord]: ...
    @property
    def loop_heartbeat(self) -> float: ...
    @property
    def housekeeping_heartbeat(self) -> float: ...
    @property
    def housekeeping_error(self) -> str | None: ...
    @property
    def store_error(self) -> str | None: ...
    @property
    def store_lock_error(self) -> str | None: ...
    @property
    def supervisor(self) -> SupervisorView: ...
    @property
    def telegram(self) -> TelegramView: ...
    @property
    def watchdog(self) -> WatchdogView: ...


class MetricsSource(Protocol):
    """What /metrics exposes: counters, the scheduler, states by name, store counts."""

    @property
    def metrics(self) -> CountersView: ...
    @property
    def scheduler(self) -> Scheduler: ...
    @property
    def store(self) -> Store: ...
    @property
    def writer(self) -> ResultWriter: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def supervisor(self) -> SupervisorView: ...

    def snapshot(self) -> Sequence[TargetRecord]: ...
    def display_state(self, rec: TargetRecord) -> str: ...


class ApiEngine(PingSink, HealthSource, MetricsSource, Protocol):
    """Everything the HTTP API uses: the above, the command layer and the live target view."""

    ping_listener: str | None  # set when a TCP listener runs: heartbeats can be pinged over it

    @property
    def commands(self) -> Commands: ...
