"""Rules from config ([[rules]]) and from run-time edits (stored sealed), as RuleSpec objects."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from engine.core.rulespec import RuleSpec
from engine.store import incidents
from engine.store.models import Rule
from engine.store.store import Store

R = "rules"


def declared_rules(settings: Any) -> list[RuleSpec]:
    out = []
    for d in settings.rules:
        rid = "r" + hashlib.sha256(d.name.encode()).hexdigest()[:7]
        out.append(
            RuleSpec(
                rid,
                d.name,
                d.metric,
                d.comparison,
                d.threshold,
                d.duration,
                d.severity,
                list(d.channels),
                d.target,
                d.enabled,
            )
        )
    return out


def stored_rules(store: Store) -> list[RuleSpec]:
    with store.session() as s:
        rows = list(s.execute(select(Rule)).scalars())
    out = []
    for r in rows:
        extra = json.loads(store.open_(R, "channels_s", r.id, r.channels_s) or "{}")
        spec = RuleSpec(
            r.id,
            store.open_(R, "name_s", r.id, r.name_s) or "",
            r.metric,
            r.comparison,
            r.threshold,
            r.duration_s,
            r.severity,
            list(extra.get("channels", [])),
            r.target_id or extra.get("subject", ""),
            r.enabled,
        )
        out.append(spec)
    return out


def open_rule_keys(store: Store) -> set[str]:
    """Dedup keys of the rule incidents open now."""
    return incidents.open_keys(store, "rule:")


def load_rules(settings: Any, store: Store) -> list[RuleSpec]:
    """The config's rules, then the stored ones."""
    return declared_rules(settings) + stored_rules(store)


def insert(store: Store, spec: RuleSpec, target_id: str | None) -> RuleSpec:
    spec.id = spec.id or store.fresh_id(Rule)
    extra = {"channels": spec.channels, "subject": "" if target_id else spec.target}
    row = Rule(
        id=spec.id,
        name_fp=store.fp("rule.name", spec.name),
        name_s=store.seal(R, "name_s", spec.id, spec.name),
        metric=spec.metric,
        comparison=spec.comparison,
        threshold=spec.threshold,
        duration_s=spec.duration_s,
        severity=spec.severity,
        channels_s=store.seal(R, "channels_s", spec.id, json.dumps(extra)),
        target_id=target_id,
        enabled=spec.enabled,
    )
    with store.session() as s:
        s.add(row)
        s.commit()
    return spec


def find(store: Store, ref: str) -> Rule | None:
    with store.session() as s:
        row = s.get(Rule, ref)
        if row is None:
            row = (
                s.execute(select(Rule).where(col(Rule.name_fp).in_(store.fps("rule.name", ref))))
                .scalars()
                .first()
            )
        return row


def set_enabled(store: Store, rule_id: str, enabled: bool) -> None:
    with store.session() as s:
        row = s.get(Rule, rule_id)
        if row is not None:
            row.enabled = enabled
            s.add(row)
            s.commit()


def remove(store: Store, rule_id: str) -> None:
    with store.session() as s:
        s.execute(delete(Rule).where(col(Rule.id) == rule_id))
        s.commit()
