"""Rule commands: add, list, enable/disable, remove at run time (config [[rules]] are read-only here)."""

from __future__ import annotations

from typing import Any

from engine.commands.base import CommandBase
from engine.core.durations import parse_duration
from engine.core.errors import BadInput, NotFound
from engine.core.limits import (
    CHANNELS_MAX,
    NAME_MAX,
    REF_MAX,
    RULE_FOR,
    Channels,
    Name,
    Ref,
    check_count,
    check_name,
    check_text,
)
from engine.core.results import Rule
from engine.core.rulespec import RuleSpec
from engine.store import rules as rules_store


class RuleCommands(CommandBase):
    def add_rule(
        self,
        name: Name,
        metric: Ref,
        comparison: str,
        threshold: float | str,
        duration: str | float = 0,
        severity: str = "medium",
        channels: Channels | None = None,
        target: Ref | None = None,
        by: str = "operator",
    ) -> Rule:
        name = check_name(name or "", "rule")
        metric = check_text(metric, "metric", REF_MAX)
        channels = [
            check_text(c, "channel", NAME_MAX)
            for c in check_count(channels, "channels", CHANNELS_MAX)
        ]
        if any(r["name"] == name for r in self.list_rules()):
            raise BadInput(
                f"a rule named {name!r} already exists", "pick another name or remove the old rule"
            )
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            raise BadInput(f"threshold {threshold!r} is not a number", "e.g. 90") from None
        target_id = None
        subject = target or ""
        if (
            target
            and target != "*"
            and not target.startswith("tag:")
            and not metric.startswith(("system.", "benchmark."))
        ):
            target_id = self.target_record(target).id
            subject = target_id
        spec = RuleSpec(
            "",
            name,
            metric,
            comparison,
            value,
            parse_duration(duration, "duration", RULE_FOR),
            severity,
            list(channels or []),
            subject,
            True,
        )
        known = {c["name"] for c in self.list_contacts()}  # type: ignore[attr-defined]
        missing = [c for c in spec.channels if c not in known]
        if missing:
            raise BadInput(
                f"no contact named {missing[0]!r}",
                "add it with `sysalert contacts add` or fix --channel",
            )
        rules_store.insert(self.store, spec, target_id)
        self.audit("rule.add", f"rule:{spec.id}", by)
        self._reload_rules()
        return self._public(spec, False, {target_id: target} if target_id and target else None)

    def list_rules(self) -> list[Rule]:
        declared = rules_store.declared_rules(self.settings)
        stored = rules_store.stored_rules(self.store)
        names = self.target_names(r.target for r in [*declared, *stored] if r.target)  # type: ignore[attr-defined]
        out = [self._public(r, True, names) for r in declared]
        out += [self._public(r, False, names) for r in stored]
        return out

    def set_rule_enabled(self, ref: str, enabled: bool = True, by: str = "operator") -> Rule:
        row = self._stored(ref)
        rules_store.set_enabled(self.store, row.id, bool(enabled))
        self.audit("rule.enable" if enabled else "rule.disable", f"rule:{row.id}", by)
        self._reload_rules()
        return next(r for r in self.list_rules() if r["id"] == row.id)

    def remove_rule(self, ref: str, by: str = "operator") -> dict[str, Any]:
        row = self._stored(ref)
        rules_store.remove(self.store, row.id)
        self.audit("rule.remove", f"rule:{row.id}", by)
        self._reload_rules()
        return {"removed": row.id}

    def _stored(self, ref: str) -> Any:
        row = rules_store.find(self.store, ref.strip())
        if row is None:
            if any(r.name == ref for r in rules_store.declared_rules(self.settings)):
                raise BadInput(
                    f"rule {ref!r} is declared in the config file",
                    "change it there and reload (SIGHUP)",
                )
            raise NotFound(f"no rule {ref!r}", "see `sysalert rules list`")
        return row

    def _reload_rules(self) -> None:
        self.hooks.alerting.rules.reload()

    @staticmethod
    def _public(r: RuleSpec, declared: bool, names: dict[str, str] | None = None) -> Rule:
        return Rule.model_validate(
            {
                "id": r.id,
                "name": r.name,
                "metric": r.metric,
                "comparison": r.comparison,
                "threshold": r.threshold,
                "duration_s": r.duration_s,
                "severity": r.severity,
                "channels": r.channels,
                "target": (names or {}).get(r.target, r.target) or None,
                "enabled": r.enabled,
                "declared": declared,
            }
        )
