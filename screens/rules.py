"""Rules: metric alert rules (CPU over 90% for 5 minutes, a certificate under 14 days...).

Rules from the config file are listed too, marked `config`: they change in the file (SIGHUP), so
toggling or removing one answers with that. Run-time rules are added, switched and removed here.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from engine.durations import parse_duration
from engine.rules import METRICS, SEVERITIES, parse_when
from screens.actions import bindings_for
from screens.base import ListScreen, Unavailable
from screens.dialogs import ConfirmScreen, Field, FieldsDialog, checked
from screens.fmt import error_sentence, span

EMPTY = "No alert rules yet. Press a to add one, e.g. system.cpu > 90 for 5m."
MISSING = "Alert rules are not available from this engine yet."
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
    SCOPE = "rules"
    NAV = "alerts"
    nav_title = "Rules"
    BINDINGS = bindings_for("rules")

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []

    def action_reload(self) -> None:
        self.call("list_rules", then=self._loaded, fail=self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.items = []
        self._fill(MISSING if isinstance(exc, Unavailable) else error_sentence(exc))

    def _loaded(self, items: Any) -> None:
        self.items = [dict(i) for i in items or []]
        self._fill(EMPTY)

    def _fill(self, empty_text: str) -> None:
        table = self.table
        row = table.cursor_row
        table.clear()
        for r in self.items:
            on = Text("yes" if r.get("enabled") else "no", style="" if r.get("enabled") else "dim")
            if r.get("declared"):
                on.append(" · config", style="bright_black")
            sev = str(r.get("severity") or "")
            table.add_row(
                str(r.get("name") or ""),
                when_text(r),
                span(float(r.get("duration_s") or 0)) if r.get("duration_s") else "at once",
                str(r.get("target") or "—"),
                Text(sev, style=SEVERITY_STYLES.get(sev, "")),
                on,
                key=str(r.get("id")),
            )
        if self.items:
            table.move_cursor(row=min(row, len(self.items) - 1), animate=False)
        empty = self.query_one("#rules-empty", Static)
        empty.update(empty_text)
        empty.display = not self.items
        table.display = bool(self.items)
        n = len(self.items)
        off = sum(1 for r in self.items if not r.get("enabled"))
        self.query_one("#rules-info", Static).update(
            f" {n} rule{'s' if n != 1 else ''} ({off} off) · a adds · t switches on/off · x removes"
        )

    def _selected(self) -> dict[str, Any] | None:
        if not self.items:
            self.notify("No rule selected. Press a to add one.", severity="warning")
            return None
        return self.items[min(self.table.cursor_row, len(self.items) - 1)]

    def action_add_rule(self) -> None:
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
                Field("target", "Target:", "", "(latency, up, value, cert_days need one)"),
                Field("severity", "Severity:", "medium", "low, medium, high, critical", _severity),
            ],
            hint="Alerts go to the contacts, like an outage; channels are set with the CLI.",
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
                    then=lambda r: self._done(f"Rule {r.get('name')} added."),
                )

        self.app.push_screen(dialog, answered)

    def action_toggle_rule(self) -> None:
        r = self._selected()
        if r is None:
            return
        on = not r.get("enabled")
        self.call(
            "set_rule_enabled",
            str(r["id"]),
            enabled=on,
            then=lambda _: self._done(f"Rule {r.get('name')} {'on' if on else 'off'}."),
        )

    def action_remove_rule(self) -> None:
        r = self._selected()
        if r is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.call(
                    "remove_rule",
                    str(r["id"]),
                    then=lambda _: self._done(f"Removed rule {r.get('name')}."),
                )

        self.app.push_screen(ConfirmScreen(f"Remove rule {r.get('name')!r}?", "Remove"), answered)

    def _done(self, text: str) -> None:
        self.notify(text)
        self.action_reload()
