"""Add or edit a target. The spec is checked as you type with the engine's own parser, so the
form shows the same sentence the CLI and the API would; nothing is saved while a field is wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual import on
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static, TextArea

from engine.checks.conditions.parse import parse_conditions
from engine.checks.specs import EXAMPLES, parse_spec
from engine.core.durations import parse_duration
from engine.core.errors import SysAlertError
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.context import field
from screens.dialogs import show_error
from screens.fmt import error_sentence

FIELDS = (  # id, label, placeholder
    ("spec", "Spec", "tcp://host:port, https://…, icmp://host, system://cpu?max=90"),
    ("name", "Name", "defaults to one made from the spec"),
    ("interval", "Interval", "30s (how often to check)"),
    ("timeout", "Timeout", "5s"),
    ("tags", "Tags", "comma separated: web, prod"),
    ("fail", "Down after", "failures in a row (default from config)"),
    ("recover", "Up after", "successes in a row (default from config)"),
)


def _count(value: str) -> None:
    if not value.strip().isdigit() or not 1 <= int(value) <= 100:
        raise ValueError("write a whole number from 1 to 100")


CHECKS: dict[str, Callable[[str], object]] = {
    "spec": parse_spec,
    "interval": lambda v: parse_duration(v, "interval"),
    "timeout": lambda v: parse_duration(v, "timeout"),
    "fail": _count,
    "recover": _count,
}


def _error(name: str, wid: str | None = None) -> Static:
    """An error line, hidden until there is something to say."""
    widget = Static("", id=wid or f"e-{name}", classes="field-error")
    widget.display = False
    return widget


class TargetFormScreen(EngineScreen):
    SCOPE = "form"
    NAV = "targets"
    BINDINGS = bindings_for("form")

    def __init__(self, record: Any | None) -> None:
        super().__init__()
        self.record = record
        self.nav_title = f"edit {field(record, 'name')}" if record is not None else "add a target"

    def _initial(self) -> dict[str, str]:
        r = self.record
        if r is None:
            return {}
        return {
            "spec": field(r, "spec") or "",
            "name": field(r, "name") or "",
            "interval": f"{field(r, 'interval_s'):g}s",
            "timeout": f"{field(r, 'timeout_s'):g}s",
            "tags": ", ".join(field(r, "tags") or []),
            "fail": str(field(r, "failure_threshold") or ""),
            "recover": str(field(r, "recovery_threshold") or ""),
        }

    def compose_body(self) -> Iterable[Widget]:
        values = self._initial()
        with VerticalScroll(id="form-body"):
            for fid, label, placeholder in FIELDS:
                with Horizontal(classes="field-row"):
                    yield Label(label, classes="field-label")
                    yield Input(
                        values.get(fid, ""), placeholder=placeholder, id=f"f-{fid}", compact=True
                    )
                yield _error(fid)
            with Horizontal(id="conditions-row"):
                yield Label("Conditions", classes="field-label")
                yield TextArea(
                    "\n".join(field(self.record, "conditions") or []),
                    id="f-conditions",
                    show_line_numbers=False,
                )
            yield Static(
                Text(
                    "one per line, all must hold, e.g. [STATUS] == 200 or [RESPONSE_TIME] < 300",
                    style="bright_black",
                ),
                classes="field-note",
            )
            yield _error("conditions")
            yield Static(Text(f"Specs: {EXAMPLES}", style="bright_black"), id="spec-help")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)
            yield _error("form-result", "form-result")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#f-spec", Input).focus()
        if self.record is not None:
            self._check_all()

    # ---- validation -------------------------------------------------------------------------------
    def _value(self, fid: str) -> str:
        return self.query_one(f"#f-{fid}", Input).value.strip()

    def _conditions(self) -> list[str]:
        text = self.query_one("#f-conditions", TextArea).text
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _check(self, fid: str) -> str | None:
        value = self._value(fid)
        error = None
        if fid == "spec" and not value:
            error = "a spec is required: " + EXAMPLES.split(", ")[0] + ", for example"
        elif value:
            try:
                parsed = CHECKS[fid](value)
            except (SysAlertError, ValueError) as exc:
                error = str(exc)
            else:
                if fid == "spec":
                    self.query_one(
                        "#f-name", Input
                    ).placeholder = f"default: {parsed.default_name()}"  # type: ignore[attr-defined]
        show_error(self.query_one(f"#e-{fid}", Static), error)
        return error

    def _check_conditions(self) -> str | None:
        error = None
        try:
            parse_conditions(self._conditions())
        except SysAlertError as exc:
            error = str(exc)
        show_error(self.query_one("#e-conditions", Static), error)
        return error

    def _check_all(self) -> list[str]:
        errors = [e for fid in CHECKS if (e := self._check(fid))]
        if (e := self._check_conditions()) is not None:
            errors.append(e)
        return errors

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        fid = (event.input.id or "")[2:]
        if fid in CHECKS:
            self._check(fid)

    @on(TextArea.Changed, "#f-conditions")
    def _conditions_changed(self) -> None:
        self._check_conditions()

    @on(Input.Submitted)
    def _next(self) -> None:
        self.focus_next()

    # ---- save -------------------------------------------------------------------------------------
    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_save(self) -> None:
        result = self.query_one("#form-result", Static)
        if self._check_all():
            show_error(result, "Fix the fields marked above: nothing was saved.")
            return
        kw: dict[str, Any] = {
            "spec": self._value("spec"),
            "name": self._value("name") or None,
            "interval": self._value("interval") or None,
            "timeout": self._value("timeout") or None,
            "tags": [t.strip() for t in self._value("tags").split(",") if t.strip()],
            "conditions": self._conditions(),
        }
        if self._value("fail"):
            kw["failure_threshold"] = int(self._value("fail"))
        if self._value("recover"):
            kw["recovery_threshold"] = int(self._value("recover"))
        show_error(result, None)
        if self.record is None:
            self.call("add_target", then=self._saved, fail=self._failed, **kw)
        else:
            self.call(
                "edit_target", field(self.record, "id"), then=self._saved, fail=self._failed, **kw
            )

    def _saved(self, rec: Any) -> None:
        self.notify(f"Saved {field(rec, 'name')}.")
        self.dismiss(rec)

    def _failed(self, exc: BaseException) -> None:
        show_error(
            self.query_one("#form-result", Static), error_sentence(exc) + " Nothing was saved."
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
