"""Metric alert rules: metric, comparison, threshold, duration (like Prometheus `for:`), severity.

Metrics are read from the engine's in-memory view: a target's latency, up/down and value (system
targets give cpu/memory/disk/load percent, tls targets certificate days left, benchmarks a score).
"""

from __future__ import annotations

import operator
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import BadInput

if TYPE_CHECKING:
    from engine.domain import TargetRecord
    from engine.engine import Engine

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
                'name it: --target NAME (CLI) or target = "NAME" (config)',
            )

    def holds(self, value: float) -> bool:
        return bool(OPS[self.comparison](value, self.threshold))


class RuleEvaluator:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rules: list[RuleSpec] = []
        self._loaded = False

    def load(self) -> None:
        """(Re)load config and stored rules, keeping how long each one has already held."""
        from engine.rules_store import load_rules

        held = {r.id: r.holding_since for r in self.rules}
        self.rules = load_rules(self.engine)
        for r in self.rules:
            r.holding_since = held.get(r.id)
        self._loaded = True

    def reload(self) -> None:
        """Any thread: the next tick reads the rules again."""
        self._loaded = False

    def channels_for(self, inc: Any) -> list[str] | None:
        if inc.rule_id:
            for r in self.rules:
                if r.id == inc.rule_id:
                    return r.channels or None
        return None

    def source(self, rule: RuleSpec) -> TargetRecord | None:
        """The target whose metric the rule reads (its maintenance silences the rule too)."""
        eng = self.engine
        if rule.metric.startswith("system."):
            metric = rule.metric.split(".", 1)[1]
            for rec in eng.targets.values():
                if (
                    rec.kind == "system"
                    and rec.spec.metric == metric
                    and (not rule.target or rec.name == rule.target)
                ):
                    return rec
            return None
        return next(
            (r for r in eng.targets.values() if r.name == rule.target or r.id == rule.target), None
        )

    def metric_value(self, rule: RuleSpec) -> float | None:
        eng = self.engine
        rec = self.source(rule)
        if rec is None:
            return None
        if rule.metric.startswith("system."):
            return eng.last_values.get(rec.id)
        if rule.metric == "latency":
            return rec.last_latency_ms
        if rule.metric == "up":
            return (
                1.0
                if rec.state in ("up", "degraded")
                else 0.0
                if rec.state in ("down", "pending")
                else None
            )
        return eng.last_values.get(rec.id)

    def tick(self, now: float | None = None) -> None:
        now = now or time.time()
        if not self._loaded:
            self.load()
        for rule in self.rules:
            if not rule.enabled:
                continue
            v = self.metric_value(rule)
            holding = v is not None and rule.holds(v)
            key = f"rule:{rule.id}"
            if not holding:
                rule.holding_since = None
            elif rule.holding_since is None:
                rule.holding_since = now
            src = self.source(rule)
            if src is not None and self.engine.alerting.in_maintenance(src):
                continue  # keep timing the condition, but open and close nothing in maintenance
            if holding:
                if now - rule.holding_since >= rule.duration_s:  # type: ignore[operator]
                    self._fire(rule, key, v, now, src)
            else:
                self._clear(key, now)

    def _fire(
        self,
        rule: RuleSpec,
        key: str,
        value: float | None,
        now: float,
        src: TargetRecord | None = None,
    ) -> None:
        from engine import incidents as inc_store

        al = self.engine.alerting
        summary = (
            f"rule {rule.name}: {rule.metric} = {value:g} {rule.comparison} {rule.threshold:g}"
        )
        inc, created = inc_store.open_incident(
            self.engine.store,
            key,
            "rule",
            rule.severity,
            summary,
            src.id if src else None,
            rule_id=rule.id,
            now=now,
        )
        if created:
            al._audit("incident.open", inc.id, "engine")
            al._notify_level(inc, None, 1, "alert", now, names=rule.channels or None)
            al._publish(inc.id, "firing", None, "opened")

    def _clear(self, key: str, now: float) -> None:
        from engine import incidents as inc_store

        inc = inc_store.find_open(self.engine.store, key)
        if inc is not None:
            self.engine.alerting._resolve(inc, None, now, "engine")
