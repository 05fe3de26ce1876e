"""Rules from config ([[rules]]) and from run-time edits, validated into RuleSpec objects."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from engine.rules import RuleSpec

if TYPE_CHECKING:
    from engine.engine import Engine


def load_rules(engine: Engine) -> list[RuleSpec]:
    out = []
    for d in engine.settings.rules:
        rid = "r" + hashlib.sha256(d.name.encode()).hexdigest()[:7]
        out.append(RuleSpec(rid, d.name, d.metric, d.comparison, d.threshold, d.duration, d.severity,
                            list(d.channels), d.target, d.enabled))
    return out
