"""The outcome of one check: what probes return and the state machine, history and alerting read.
Plain data in core, so the state machine (engine.core.state) needs nothing from engine.checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ProbeResult:
    """Outcome of one check. `detail` may name hosts: it is sealed before it is stored or shown."""

    ok: bool
    latency_ms: float | None = None
    value: float | None = None
    error_class: str | None = None
    detail: str = ""
    degraded: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(
        cls, error_class: str, detail: str, latency_ms: float | None = None, **facts: Any
    ) -> ProbeResult:
        return cls(False, latency_ms, None, error_class, detail, False, dict(facts))
