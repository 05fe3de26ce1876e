"""Metric alert rules: metric, comparison, threshold, duration (like Prometheus `for:`), severity.

Metrics are read from the engine's in-memory view: a target's latency, up/down and value (system
targets give cpu/memory/disk/load percent, tls targets certificate days left, benchmarks a score).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from engine.core.rulespec import RuleSpec
from engine.store.rules import load_rules, open_rule_keys

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting
    from engine.alerting.ports import AlertingHost
    from engine.core.domain import TargetRecord


class RuleEvaluator:
    def __init__(self, engine: AlertingHost, alerting: Alerting) -> None:
        self.engine = engine
        self.alerting = alerting
        self.rules: list[RuleSpec] = []
        self.loaded = False  # False: the next tick (re)reads the rules
        # Dedup keys of the rule incidents open now: clearing asks the store only about these
        # (a "*" rule over 100,000 targets must not query once per target per tick).
        self.open_keys: set[str] = set()
        # The alerting tick and a maintenance change may both tick rules, from worker threads.
        self._lock = threading.RLock()
        self._snapshot: list[TargetRecord] | None = None
        self._ticking = False

    def forget(self, dedup_key: str) -> None:
        """An operator resolved a rule incident by hand: fire again while the condition holds."""
        with self._lock:
            self.open_keys.discard(dedup_key)

    def load(self) -> None:
        """(Re)load config and stored rules, keeping how long each one has already held."""
        held = {r.id: (r.holding_since, r.holding) for r in self.rules}
        self.rules = load_rules(self.engine.settings, self.engine.store)
        for r in self.rules:
            r.holding_since, r.holding = held.get(r.id, (None, {}))
        self.open_keys = open_rule_keys(self.engine.store)
        self.loaded = True

    def reload(self) -> None:
        """Any thread: the next tick reads the rules again."""
        self.loaded = False

    def channels_for(self, inc: Any) -> list[str] | None:
        if inc.rule_id:
            for r in self.rules:
                if r.id == inc.rule_id:
                    return r.channels or None
        return None

    def _records(self) -> list[TargetRecord]:
        """The targets this tick reads: one copy made on the engine's loop per tick (the tick runs
        in a worker thread while the loop adds and removes targets)."""
        if self._snapshot is None:
            snap = self.engine.snapshot()
            if not self._ticking:
                return snap
            self._snapshot = snap
        return self._snapshot

    def source(self, rule: RuleSpec) -> TargetRecord | None:
        """The target whose metric the rule reads (its maintenance silences the rule too)."""
        if rule.metric.startswith("system."):
            metric = rule.metric.split(".", 1)[1]
            for rec in self._records():
                if (
                    rec.kind == "system"
                    and rec.spec.metric == metric
                    and (not rule.target or rec.name == rule.target)
                ):
                    return rec
            return None
        return next(
            (r for r in self._records() if r.name == rule.target or r.id == rule.target), None
        )

    def sources(self, rule: RuleSpec) -> list[TargetRecord]:
        """The targets a rule reads: one, or for a selector every target it applies to."""
        if not rule.selector:
            rec = self.source(rule)
            return [rec] if rec is not None else []
        tag = rule.target[4:] if rule.target.startswith("tag:") else None
        return [
            rec
            for rec in self._records()
            if not rec.paused and _applies(rule.metric, rec) and (tag is None or tag in rec.tags)
        ]

    def metric_value(self, rule: RuleSpec, rec: TargetRecord | None = None) -> float | None:
        eng = self.engine
        rec = rec if rec is not None else self.source(rule)
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
        with self._lock:
            self._snapshot, self._ticking = None, True  # the first rule to read targets copies
            try:
                self._tick(now or time.time())
            finally:
                self._snapshot, self._ticking = None, False

    def _tick(self, now: float) -> None:
        if not self.loaded:
            self.load()
        self._clear_orphans(now)
        for rule in self.rules:
            if not rule.enabled:
                continue
            if rule.selector:
                self._tick_each(rule, now)
                continue
            v = self.metric_value(rule)
            holding = v is not None and rule.holds(v)
            key = f"rule:{rule.id}"
            if not holding:
                rule.holding_since = None
            elif rule.holding_since is None:
                rule.holding_since = now
            src = self.source(rule)
            if src is not None and self.alerting.in_maintenance(src):
                continue  # keep timing the condition, but open and close nothing in maintenance
            if holding:
                if now - rule.holding_since >= rule.duration_s:  # type: ignore[operator]
                    self._fire(rule, key, v, now, src)
            else:
                self._clear(key, now)

    def _clear_orphans(self, now: float) -> None:
        """Incidents of rules removed, disabled, or turned between one target and a selector
        (a config rule keeps its id when edited) resolve instead of paging forever."""
        shapes = {r.id: r.selector for r in self.rules if r.enabled}
        for key in list(self.open_keys):
            parts = key.split(":")
            if len(parts) < 2:
                continue
            selector = shapes.get(parts[1])
            if selector is None or selector != (len(parts) == 3):
                self._clear(key, now)

    def _tick_each(self, rule: RuleSpec, now: float) -> None:
        """A selector rule: each matching target holds, fires and clears on its own, under its
        own incident (`rule:ID:TARGET`); targets that left the selection are cleared."""
        seen: set[str] = set()
        in_maintenance = self.alerting.in_maintenance
        for src in self.sources(rule):
            seen.add(src.id)
            v = self.metric_value(rule, src)
            key = f"rule:{rule.id}:{src.id}"
            if v is None or not rule.holds(v):
                rule.holding.pop(src.id, None)
                if key in self.open_keys and not in_maintenance(src):
                    self._clear(key, now)
                continue
            since = rule.holding.setdefault(src.id, now)
            if now - since >= rule.duration_s and not in_maintenance(src):
                self._fire(rule, key, v, now, src)
        for tid in [t for t in rule.holding if t not in seen]:
            del rule.holding[tid]
        prefix = f"rule:{rule.id}:"
        for key in [k for k in self.open_keys if k.startswith(prefix)]:
            if key[len(prefix) :] not in seen:
                self._clear(key, now)

    def _fire(
        self,
        rule: RuleSpec,
        key: str,
        value: float | None,
        now: float,
        src: TargetRecord | None = None,
    ) -> None:
        if key in self.open_keys:
            return  # open already: no store query per holding target per tick
        on = f" on {src.name}" if rule.selector and src is not None else ""
        summary = (
            f"rule {rule.name}{on}: {rule.metric} = {value:g} {rule.comparison} {rule.threshold:g}"
        )
        self.alerting.open_incident(
            key,
            "rule",
            rule.severity,
            summary,
            now,
            target_id=src.id if src else None,
            rule_id=rule.id,
            names=rule.channels or None,
        )
        self.open_keys.add(key)

    def _clear(self, key: str, now: float) -> None:
        if key not in self.open_keys:
            return  # nothing of this rule is open (the set is loaded from the store)
        self.alerting.resolve_open(key, now)
        self.open_keys.discard(key)  # only once resolved: a failed try is tried again next tick


def _applies(metric: str, rec: TargetRecord) -> bool:
    """Whether a target reports the metric a selector rule reads."""
    if metric.startswith("system."):
        return rec.kind == "system" and rec.spec.metric == metric.split(".", 1)[1]
    if metric == "cert_days":
        return rec.kind == "tls"
    if metric == "latency":
        return rec.kind not in ("heartbeat", "system")
    return metric in ("up", "value")
