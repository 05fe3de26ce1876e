"""Metric alert rules as data: metric, comparison, threshold, duration (like Prometheus `for:`),
severity. Pure: the config validates and the store loads rules with it; alerting evaluates them."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from engine.core.errors import BadInput

OPS = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SEVERITIES = ("low", "medium", "high", "critical")
METRICS = (
    "latency",
    "up",
    "value",
    "system.cpu",
    "system.memory",
    "system.disk",
    "system.load",
    "system.swap",
    "cert_days",
    "benchmark.score",
)


_WHEN = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_when(text: str) -> tuple[str, float]:
    """`> 90`, `<= 14`: a comparison and a threshold, as the CLI's --when and the console take it."""
    m = _WHEN.match(text or "")
    if not m:
        raise BadInput(f"{text!r} is not a comparison", "write an operator and a number: '> 90'")
    return m.group(1), float(m.group(2))


@dataclass
class RuleSpec:
    id: str
    name: str
    metric: str
    comparison: str
    threshold: float
    duration_s: float = 0.0
    severity: str = "medium"
    channels: list[str] = field(default_factory=list)
    target: str = ""
    enabled: bool = True
    holding_since: float | None = None
    # A selector rule ("*" or "tag:NAME") times each target on its own.
    holding: dict[str, float] = field(default_factory=dict)

    @property
    def selector(self) -> bool:
        """`target = "*"` (every target the metric applies to) or `"tag:NAME"`."""
        return self.target == "*" or self.target.startswith("tag:")

    def __post_init__(self) -> None:
        if self.comparison not in OPS:
            raise BadInput(
                f"rule {self.name!r}: comparison {self.comparison!r} is unknown",
                f"use one of {' '.join(OPS)}",
            )
        if self.severity not in SEVERITIES:
            raise BadInput(
                f"rule {self.name!r}: severity {self.severity!r} is unknown",
                f"use one of {', '.join(SEVERITIES)}",
            )
        if self.metric not in METRICS:
            raise BadInput(
                f"rule {self.name!r}: metric {self.metric!r} is unknown",
                f"use one of {', '.join(METRICS)}",
            )
        if (
            self.metric in ("latency", "up", "value", "cert_days", "benchmark.score")
            and not self.target
        ):
            raise BadInput(
                f"rule {self.name!r}: metric {self.metric} needs a target",
                'name it, or "*" for every target, or "tag:NAME": --target (CLI), target = (config)',
            )
        if self.selector and self.metric == "benchmark.score":
            raise BadInput(
                f"rule {self.name!r}: a benchmark rule names one benchmark", "--target BENCHMARK"
            )
        if self.target == "tag:":
            raise BadInput(f"rule {self.name!r}: tag: needs a tag name", "e.g. tag:db")

    def holds(self, value: float) -> bool:
        return bool(OPS[self.comparison](value, self.threshold))
