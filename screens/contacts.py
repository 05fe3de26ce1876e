"""Contacts and Telegram: who gets what (escalation levels), the Telegram session state, login."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine.domain import mask_address
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import Field, FieldsDialog
from screens.telegram_login import start_login

EMPTY = "No contacts yet. Press a to add one (e.g. telegram:@oncall or email:ops@example.com)."
STATUS_STYLES = {"ok": "green", "blocked": "bold red", "invalid": "red"}


def _level(value: str) -> str | None:
    if not value.strip():
        return None
    if not value.strip().isdigit() or not 1 <= int(value) <= 9:
        return "the level is a number from 1 to 9 (1 is paged first)"
    return None


def _address(value: str) -> str | None:
    from engine.errors import SysAlertError
    from engine.notify.channels import parse_contact_address

    if not value.strip():
        return None
    try:
        parse_contact_address(value)
    except SysAlertError as exc:
        return str(exc)
    return None


def telegram_text(status: Any) -> Text:
    """The session state in one or two lines, from whatever shape `telegram_status` returns."""
    text = Text(" Telegram: ", style="bold")
    if status is None:
        text.append(
            "not available from this engine (log in with `sysalert telegram login`)", style="italic"
        )
        return text
    if not isinstance(status, dict):
        text.append(str(status))
        return text
    logged = status.get("logged_in", status.get("authorized"))
    state = status.get("state") or ("logged in" if logged else "not logged in")
    good = bool(logged) or state in ("connected", "logged in", "ok")
    text.append(f"{'●' if good else '○'} {state}", style="green" if good else "yellow")
    account = status.get("account") or status.get("display") or status.get("user")
    if account:
        text.append(f" as {account}")
    health = status.get("health")
    if isinstance(health, dict) and good:
        text.append(f" · link: {health.get('state')}", style="green" if health.get("ok") else "red")
    for key in ("detail", "error"):
        if status.get(key):
            text.append(f" · {status[key]}", style="red")
    if not good:
        text.append(" · press l to log in", style="bold")
    return text


class ContactsScreen(EngineScreen):
    SCOPE = "contacts"
    BINDINGS = bindings_for("contacts")

    def __init__(self) -> None:
        super().__init__()
        self.contacts: list[dict[str, Any]] = []

    def compose_body(self) -> Iterable[Widget]:
        yield Static(" Telegram: …", id="telegram")
        yield Static(
            "Contacts (level 1 is paged first; level 2 when level 1 has not read or acked)",
            classes="section-title",
        )
        table: DataTable[Any] = DataTable(id="contacts", cursor_type="row")
        table.add_columns("Lvl", "Name", "Channel", "Address", "Status")
        yield table
        yield Static("", id="contacts-empty", classes="empty")

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#contacts", DataTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.call_fn(self._fetch, then=self._loaded)

    def _fetch(self) -> tuple[list[Any], Any]:
        return self.commands.list_contacts(), self.optional("telegram_status")

    def _loaded(self, value: tuple[list[Any], Any]) -> None:
        contacts, status = value
        self.contacts = [c if isinstance(c, dict) else c.public() for c in contacts]
        self.query_one("#telegram", Static).update(telegram_text(status))
        table = self.table
        row = table.cursor_row
        table.clear()
        for c in self.contacts:
            status_text = Text(
                c.get("status") or "ok", style=STATUS_STYLES.get(c.get("status") or "ok", "")
            )
            table.add_row(
                str(c.get("level", 1)),
                c.get("name", ""),
                c.get("channel", ""),
                mask_address(str(c.get("address", ""))),
                status_text,
                key=c.get("id"),
            )
        if self.contacts:
            table.move_cursor(row=min(row, len(self.contacts) - 1), animate=False)
        empty = self.query_one("#contacts-empty", Static)
        empty.update(EMPTY)
        empty.display = not self.contacts
        table.display = bool(self.contacts)

    def _selected(self) -> dict[str, Any] | None:
        if not self.contacts:
            self.notify("No contact selected.", severity="warning")
            return None
        return self.contacts[min(self.table.cursor_row, len(self.contacts) - 1)]

    def action_add_contact(self) -> None:
        dialog = FieldsDialog(
            "Add a contact",
            [
                Field("name", "Name:", "", "oncall-anna", required=True),
                Field(
                    "address",
                    "Address:",
                    "",
                    "telegram:@user, email:ops@example.com, webhook:https://…",
                    _address,
                    required=True,
                ),
                Field("level", "Level:", "1", "1 (first) to 9", _level),
            ],
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                self.call(
                    "add_contact",
                    name=values["name"],
                    address=values["address"],
                    level=int(values["level"] or 1),
                    then=lambda _: self.done(f"Contact {values['name']} added."),
                )

        self.app.push_screen(dialog, answered)

    def action_remove_contact(self) -> None:
        c = self._selected()
        if c is not None:
            self.ask_then_call(
                f"Remove {c['name']!r}? Its notifications and receipts are erased too.",
                "Remove",
                "remove_contact",
                c["id"],
                done=f"Removed {c['name']}.",
            )

    def action_test_contact(self) -> None:
        c = self._selected()
        if c is None:
            return
        self.notify(f"Sending a test message to {c['name']}…")
        self.call("notify_test", c["id"], then=self._tested)

    def _tested(self, out: dict[str, Any]) -> None:
        if out.get("ok"):
            self.notify("Test message sent.")
        else:
            self.notify(f"Test message failed: {out.get('error')}", severity="error")

    def action_telegram_login(self) -> None:
        start_login(self, self.reload)

    def reload_data(self) -> None:
        self.reload()
