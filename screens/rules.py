"""Rules: metric alert rules (CPU over 90% for 5 minutes, a certificate under 14 days...).

Rules from the config file are listed too, marked `config`: they change in the file (SIGHUP), so
toggling or removing one answers with that. Run-time rules are added, switched and removed here.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from engine.core.durations import parse_duration
from engine.core.rulespec import METRICS, SEVERITIES, parse_when
from screens.actions import bindings_for
from screens.base import ListScreen
from screens.dialogs import Field, FieldsDialog, checked
from screens.fmt import span

SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": ""}


def _metric(value: str) -> str | None:
    if value.strip() in METRICS:
        return None
    return f"one of {', '.join(METRICS)}"


def _severity(value: str) -> str | None:
    if not value.strip() or value.strip().lower() in SEVERITIES:
        return None
    return f"one of {', '.join(SEVERITIES)}"


def when_text(r: dict[str, Any]) -> str:
    return f"{r.get('metric')} {r.get('comparison')} {float(r.get('threshold') or 0):g}"


class RulesScreen(ListScreen):
    TABLE_ID = "rules"
    INFO_ID = "rules-info"
    EMPTY_ID = "rules-empty"
    COLUMNS = ("Name", "When", "For", "Target", "Sev.", "On")
    LOADING = "Loading rules…"
    LIST_COMMAND = "list_rules"
    EMPTY = "No alert rules yet. Press a to add one, e.g. system.cpu > 90 for 5m."
    MISSING = "Alert rules are not available from this engine yet."
    NOUN = "rule"
    SCOPE = "rules"
    nav_title = "Rules"
    BINDINGS = bindings_for("rules")

    def cells(self, r: dict[str, Any]) -> tuple[Any, ...]:
        on = Text("yes" if r.get("enabled") else "no", style="" if r.get("enabled") else "dim")
        if r.get("declared"):
            on.append(" · config", style="bright_black")
        sev = str(r.get("severity") or "")
        return (
            str(r.get("name") or ""),
            when_text(r),
            span(float(r.get("duration_s") or 0)) if r.get("duration_s") else "at once",
            str(r.get("target") or "—"),
            Text(sev, style=SEVERITY_STYLES.get(sev, "")),
            on,
        )

    def info(self) -> str:
        n = len(self.items)
        off = sum(1 for r in self.items if not r.get("enabled"))
        return (
            f" {n} rule{'s' if n != 1 else ''} ({off} off) · a adds · t switches on/off · x removes"
        )

    def action_add_rule(self) -> None:
        # The contact names first, so the dialog can say at once that one does not exist.
        self.call("list_contacts", then=self._add_rule_dialog)

    def _add_rule_dialog(self, contacts: Any) -> None:
        known = {str(c["name"]) for c in contacts or []}

        def channels(value: str) -> str | None:
            wrong = [c.strip() for c in value.split(",") if c.strip() and c.strip() not in known]
            if wrong:
                return f"no contact named {wrong[0]!r} (add it on screen 6)"
            return None

        dialog = FieldsDialog(
            "Add an alert rule",
            [
                Field("name", "Name:", "", "cpu hot", required=True),
                Field(
                    "metric", "Metric:", "system.cpu", "system.cpu, latency, cert_days…", _metric
                ),
                Field("when", "When:", "", "> 90", checked(parse_when, optional=False)),
                Field(
                    "duration",
                    "For:",
                    "5m",
                    "how long it must hold (0 = at once)",
                    checked(lambda v: parse_duration(v, "duration")),
                ),
                Field("target", "Target:", "", "name, * (every target) or tag:NAME"),
                Field("severity", "Severity:", "medium", "low, medium, high, critical", _severity),
                Field(
                    "channels", "Contacts:", "", "(all, by level) or names: oncall, ops", channels
                ),
            ],
            hint="A rule that holds opens an incident and alerts like an outage.",
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                comparison, threshold = parse_when(values["when"])
                self.call(
                    "add_rule",
                    values["name"].strip(),
                    values["metric"].strip(),
                    comparison,
                    threshold,
                    duration=values["duration"].strip() or 0,
                    severity=(values["severity"].strip() or "medium").lower(),
                    target=values["target"].strip() or None,
                    channels=[c.strip() for c in values["channels"].split(",") if c.strip()],
                    then=lambda r: self.done(f"Rule {r.get('name')} added."),
                )

        self.app.push_screen(dialog, answered)

    def action_toggle_rule(self) -> None:
        r = self.selected()
        if r is None:
            return
        on = not r.get("enabled")
        self.call(
            "set_rule_enabled",
            str(r["id"]),
            enabled=on,
            then=lambda _: self.done(f"Rule {r.get('name')} {'on' if on else 'off'}."),
        )

    def action_remove_rule(self) -> None:
        r = self.selected()
        if r is not None:
            self.ask_then_call(
                f"Remove rule {r.get('name')!r}?",
                "Remove",
                "remove_rule",
                str(r["id"]),
                done=f"Removed rule {r.get('name')}.",
            )
