"""Contacts and Telegram: who gets what (escalation levels), the Telegram session state, login."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.text import Text
from textual import events
from textual.widget import Widget
from textual.widgets import Static

from engine.security.privacy import mask_id
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.dialogs import Field, FieldsDialog
from screens.fmt import fit
from screens.keyed_table import KeyedTable
from screens.telegram_login import start_login

EMPTY = "No contacts yet. Press a to add one (e.g. telegram:@oncall or email:ops@example.com)."
STATUS_STYLES = {"ok": "green", "blocked": "bold red", "invalid": "red", "failing": "red"}
COLUMNS = ("Lvl", "Name", "Channel", "Address", "Status")
TOKEN_CHANNELS = {"slack", "discord", "apprise"}  # their URLs carry the secret in the path


def shown_address(channel: str, address: str) -> str:
    """An address as the Contacts table shows it: whole where it names a place or a person,
    its secrets kept back (a webhook's password and query, a Slack or Apprise token, a
    PagerDuty key) and a Telegram chat id or phone number masked as everywhere (****1265)."""
    if channel == "telegram":
        return address if address.startswith("@") else mask_id(address)
    if channel == "pagerduty":
        return mask_id(address)
    try:
        url = urlsplit(address)
        host = url.hostname or ""
        if channel in TOKEN_CHANNELS:
            # An Apprise "host" is often the token itself: only its scheme says what it is.
            where = "" if channel == "apprise" or not host else host + "/"
            return f"{url.scheme}://{where}…{address[-4:]}" if url.scheme else mask_id(address)
        if channel == "webhook" and url.scheme:
            netloc = host + (f":{url.port}" if url.port else "")
            return urlunsplit((url.scheme, netloc, url.path, "", ""))
    except ValueError:  # not a URL after all (a bad port): show nothing of it
        return mask_id(address)
    return address


def _level(value: str) -> str | None:
    if not value.strip():
        return None
    if not value.strip().isdigit() or not 1 <= int(value) <= 9:
        return "the level is a number from 1 to 9 (1 is paged first)"
    return None


def _address(value: str) -> str | None:
    from engine.core.errors import SysAlertError
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
    logged = status.get("logged_in", status.get("authorized"))
    state = status.get("state") or ("logged in" if logged else "not logged in")
    good = bool(logged) or state in ("connected", "logged in", "ok")
    text.append(f"{'●' if good else '○'} {state}", style="green" if good else "yellow")
    account = status.get("account") or status.get("display") or status.get("user")
    if account:
        text.append(f" as {account}")
    health = status.get("health")
    if health and good:
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
        table = KeyedTable(id="contacts", cursor_type="row")
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="contacts-empty", classes="empty")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#contacts", KeyedTable)

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
        self.contacts = list(contacts)
        self.query_one("#telegram", Static).update(telegram_text(status))
        self._fill()

    def _fill(self) -> None:
        """The address gets the width the other columns leave (cut in the middle beyond it)."""
        table = self.table
        rows = [
            (
                str(c.get("level", 1)),
                str(c.get("name", "")),
                str(c.get("channel", "")),
                shown_address(str(c.get("channel", "")), str(c.get("address", ""))),
                str(c.get("status") or "ok"),
            )
            for c in self.contacts
        ]
        room = table.room_for(3, COLUMNS, rows, self.size.width)
        cells = [
            (*r[:3], fit(r[3], room), Text(r[4], style=STATUS_STYLES.get(r[4], ""))) for r in rows
        ]
        table.fill(
            zip([str(c.get("id")) for c in self.contacts], cells, strict=True), columns=COLUMNS
        )
        empty = self.query_one("#contacts-empty", Static)
        empty.update(EMPTY)
        empty.display = not self.contacts
        table.display = bool(self.contacts)

    def on_resize(self, event: events.Resize) -> None:
        if self.contacts:
            self._fill()

    def _selected(self) -> dict[str, Any] | None:
        key = self.table.cursor_key
        c = next((c for c in self.contacts if c.get("id") == key), None)
        if c is None:
            self.notify("No contact selected.", severity="warning")
        return c

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
