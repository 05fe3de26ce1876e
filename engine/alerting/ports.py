"""What alerting uses from the engine: small ports, so alerting never imports the Engine class
(the Engine satisfies them structurally)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from engine.heartbeats.ports import HeartbeatHost, PingCounts
from engine.notify.ports import DeliveryHost, DeliveryMetrics

if TYPE_CHECKING:
    from engine.config.settings import Settings
    from engine.core.domain import TargetRecord
    from engine.core.events import EventBus


class Auditor(Protocol):
    """Writes the audit log (the command layer's `audit`)."""

    def audit(
        self,
        action: str,
        object_ref: str | None,
        actor: str = "operator",
        detail: str | None = None,
    ) -> None: ...


class AlertingMetrics(PingCounts, DeliveryMetrics, Protocol):
    """The counters heartbeats and delivery keep (both run under alerting)."""


class AlertingHost(HeartbeatHost, DeliveryHost, Protocol):
    """The engine as alerting sees it: targets and their parent index, the settings, the event
    bus, the audit log, the last metric values, a copy of the targets, and its loop; and what
    the dispatcher it builds needs (DeliveryHost)."""

    @property
    def metrics(self) -> AlertingMetrics: ...

    @property
    def settings(self) -> Settings: ...
    @property
    def children(self) -> dict[str, tuple[str, ...]]: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def commands(self) -> Auditor: ...
    @property
    def last_values(self) -> dict[str, float]: ...

    def snapshot(self) -> list[TargetRecord]: ...

    def call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None: ...
