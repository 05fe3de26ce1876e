"""Subscribers: the Telegram chats that use SysAlert from the chat, each with their own targets and
benchmarks. Chat ids are masked (****1265) here as everywhere; add one by its chat id, remove one
(asks first: removing erases everything the subscriber owns)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import Static

from screens.actions import bindings_for
from screens.base import ListScreen, Unavailable
from screens.dialogs import ConfirmScreen, Field, FieldsDialog, checked
from screens.fmt import ago, error_sentence

EMPTY = (
    "No subscribers yet. Press a to add one by Telegram chat id; they then use SysAlert from the chat "
    "(/start, /addtarget, /setbench)."
)
MISSING = "Subscribers are not available from this engine yet."
ROLE_STYLES = {"admin": "bold magenta", "subscriber": ""}


def _chat_id(value: str) -> None:
    from engine.store.subscribers import parse_chat_id

    parse_chat_id(value)


def _role(value: str) -> str | None:
    if value.strip().lower() in ("", "subscriber", "admin"):
        return None
    return "the role is subscriber or admin"


def use_text(item: dict[str, Any], kind: str) -> str:
    """`2/5` against their quota, or `2` when unlimited."""
    q = (item.get("quota") or {}).get(kind) or {}
    used = q.get("used", (item.get("usage") or {}).get(kind, 0))
    return str(used) if q.get("limit") is None else f"{used}/{q['limit']}"


def owner_labels(subscribers: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    """Subscriber id -> masked chat id: how Targets and Benchmarks name an owner."""
    return {str(s["id"]): str(s.get("chat") or "****") for s in subscribers or () if s.get("id")}


class SubscribersScreen(ListScreen):
    TABLE_ID = "subscribers"
    INFO_ID = "subs-info"
    EMPTY_ID = "subs-empty"
    COLUMNS = ("Chat", "Role", "Targets", "Bench.", "Last seen", "Added")
    LOADING = "Loading subscribers…"
    SCOPE = "subscribers"
    NAV = "contacts"
    nav_title = "Subscribers"
    BINDINGS = bindings_for("subscribers")

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []

    def action_reload(self) -> None:
        self.call("list_subscribers", then=self._loaded, fail=self._failed)

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
        now = self.ctx.clock()
        for s in self.items:
            role = str(s.get("role") or "subscriber")
            table.add_row(
                str(s.get("chat") or "****"),
                Text(role, style=ROLE_STYLES.get(role, "")),
                use_text(s, "targets"),
                use_text(s, "benchmarks"),
                ago(s.get("last_seen_at"), now) if s.get("last_seen_at") else "never",
                ago(s.get("created_at"), now),
                key=str(s.get("id")),
            )
        if self.items:
            table.move_cursor(row=min(row, len(self.items) - 1), animate=False)
        empty = self.query_one("#subs-empty", Static)
        empty.update(empty_text)
        empty.display = not self.items
        table.display = bool(self.items)
        n = len(self.items)
        admins = sum(1 for s in self.items if s.get("role") == "admin")
        self.query_one("#subs-info", Static).update(
            f" Subscribers: {n} ({admins} admin) · Targets/Bench. are used/limit · a adds · x removes"
        )

    def _selected(self) -> dict[str, Any] | None:
        if not self.items:
            self.notify("No subscriber selected.", severity="warning")
            return None
        return self.items[min(self.table.cursor_row, len(self.items) - 1)]

    def action_add_subscriber(self) -> None:
        dialog = FieldsDialog(
            "Add a subscriber",
            [
                Field(
                    "chat_id",
                    "Chat id:",
                    "",
                    "77441265 (their Telegram user id)",
                    checked(_chat_id),
                    required=True,
                ),
                Field(
                    "role", "Role:", "subscriber", "subscriber, or admin (/addsub, /stats)", _role
                ),
            ],
            hint="They then send /start to the SysAlert account and add targets from the chat.",
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                role = (values["role"] or "subscriber").lower()
                self.call("add_subscriber", values["chat_id"], role=role, then=self._added)

        self.app.push_screen(dialog, answered)

    def _added(self, rec: dict[str, Any]) -> None:
        self._done(f"Subscriber {rec.get('chat')} added ({rec.get('role')}).")

    def action_remove_subscriber(self) -> None:
        s = self._selected()
        if s is None:
            return
        chat = s.get("chat") or "****"
        question = (
            f"Remove subscriber {chat}? Their {use_text(s, 'targets').split('/')[0]} targets, "
            "benchmarks, contacts and alerts are erased, and their probes stop."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.call(
                    "remove_subscriber", str(s["id"]), then=lambda _: self._done(f"Removed {chat}.")
                )

        self.app.push_screen(ConfirmScreen(question, "Remove"), answered)

    def _done(self, text: str) -> None:
        self.notify(text)
        self.action_reload()
