"""The one small interface every probe kind implements.

A probe is `async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult`. It never raises for
a failed check (that is a result with an error class); it raises BadInput only for options that make
no sense. The scheduler applies the timeout around it as well, so a probe may rely on cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.checks.specs import TargetSpec
from engine.core.probe import ProbeResult  # re-exported: every probe returns one

# Error classes a result may carry; screens and rules group by these.
ERROR_CLASSES = (
    "timeout",
    "refused",
    "unreachable",
    "dns",
    "tls",
    "status",
    "keyword",
    "condition",
    "threshold",
    "exit",
    "exec",
    "protocol",
    "missed",
    "permission",
    "regression",
    "error",
)


@dataclass(slots=True)
class ProbeContext:
    """Per-target settings a probe reads: timeout, kind-specific options and Gatus conditions."""

    timeout: float = 5.0
    options: dict[str, Any] = field(default_factory=dict)
    conditions: list[Any] = field(default_factory=list)  # engine.checks.conditions.parse.Condition
    shared: dict[str, Any] = field(default_factory=dict)  # per-engine resources (httpx client ...)
    # True when the caller (the scheduler) enforces the timeout with one timer per check, so a probe
    # that honours it skips its own: that timer is a measurable share of a TCP check's cost.
    bounded_outside: bool = False


class Probe(Protocol):
    async def __call__(self, spec: TargetSpec, ctx: ProbeContext) -> ProbeResult: ...
