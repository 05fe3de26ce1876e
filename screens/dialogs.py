"""Small modal dialogs: a yes/no confirmation and a form of a few validated fields.

A field's validator returns the error sentence (or None); the dialog shows it under the field and
will not close with a value while any field is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine import SysAlertError

Validator = Callable[[str], str | None]


def checked(parse: Callable[[str], object], optional: bool = True) -> Validator:
    """A validator from one of the engine's parsers: its own error sentence, word for word."""

    def validate(value: str) -> str | None:
        if not value.strip():
            return None if optional else "this field is required"
        try:
            parse(value)
        except SysAlertError as exc:
            return str(exc)
        except ValueError as exc:
            return str(exc)
        return None

    return validate


def show_error(widget: Static, error: str | None) -> None:
    """An error line takes room only while there is an error."""
    widget.update(error or "")
    widget.display = bool(error)


class ConfirmScreen(ModalScreen[bool]):
    """y / Enter confirms, n / Esc declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    validate: Validator | None = None
    required: bool = False
    password: bool = False  # read without echo (a 2FA password)


class FieldsDialog(ModalScreen[dict[str, str] | None]):
    """A few labelled inputs; Enter on the last field (or ctrl+s) submits, Esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save"),
    ]

    def __init__(self, title: str, fields: Sequence[Field], hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.hint = hint

    def compose(self) -> ComposeResult:
        # Six fields and more sit without blank lines between them, so that each one's error
        # line still fits at 80x24.
        with Vertical(classes="dialog compact" if len(self.fields) >= 6 else "dialog"):
            yield Static(self.title_text, classes="dialog-title")
            for f in self.fields:
                with Horizontal(classes="field-row"):
                    yield Label(f.label, classes="field-label")
                    yield Input(
                        f.value,
                        placeholder=f.placeholder,
                        id=f"f-{f.name}",
                        compact=True,
                        password=f.password,
                    )
                error = Static("", id=f"e-{f.name}", classes="field-error")
                error.display = False
                yield error
            if self.hint:
                yield Static(self.hint, classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#f-{self.fields[0].name}", Input).focus()

    def _check(self, f: Field) -> str | None:
        value = self.query_one(f"#f-{f.name}", Input).value
        err = None
        if f.required and not value.strip():
            err = f"{f.label.strip().rstrip(':')} is required"
        elif f.validate is not None:
            err = f.validate(value)
        show_error(self.query_one(f"#e-{f.name}", Static), err)
        return err

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "")[2:]
        for f in self.fields:
            if f.name == name and event.value.strip():
                self._check(f)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == f"f-{self.fields[-1].name}":
            self.action_submit()
        else:
            self.focus_next()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        errors = [e for f in self.fields if (e := self._check(f))]
        if errors:
            return
        self.dismiss(
            {f.name: self.query_one(f"#f-{f.name}", Input).value.strip() for f in self.fields}
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
