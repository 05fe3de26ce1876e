"""Subscribers: the Telegram chats that use SysAlert from the chat, each with their own targets and
benchmarks. Chat ids are masked (****1265) here as everywhere; add one by its chat id, remove one
(asks first: removing erases everything the subscriber owns)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text

from screens.actions import bindings_for
from screens.base import ListScreen
from screens.dialogs import Field, FieldsDialog, checked
from screens.fmt import ago

EMPTY = (
    "No subscribers yet. Press a to add one by Telegram chat id; they then use SysAlert from the chat "
    "(/start, /addtarget, /setbench)."
)
MISSING = "Subscribers are not available from this engine yet."
ROLE_STYLES = {"admin": "bold magenta", "subscriber": ""}


def _chat_id(value: str) -> None:
    from engine import parse_chat_id

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
    LIST_COMMAND = "list_subscribers"
    EMPTY = EMPTY
    MISSING = MISSING
    NOUN = "subscriber"
    SCOPE = "subscribers"
    nav_title = "Subscribers"
    BINDINGS = bindings_for("subscribers")

    def cells(self, s: dict[str, Any]) -> tuple[Any, ...]:
        now = self.ctx.clock()
        role = str(s.get("role") or "subscriber")
        return (
            str(s.get("chat") or "****"),
            Text(role, style=ROLE_STYLES.get(role, "")),
            use_text(s, "targets"),
            use_text(s, "benchmarks"),
            ago(s.get("last_seen_at"), now) if s.get("last_seen_at") else "never",
            ago(s.get("created_at"), now),
        )

    def info(self) -> str:
        n = len(self.items)
        admins = sum(1 for s in self.items if s.get("role") == "admin")
        return f" Subscribers: {n} ({admins} admin) · Targets/Bench. are used/limit · a adds · x removes"

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
        self.done(f"Subscriber {rec.get('chat')} added ({rec.get('role')}).")

    def action_remove_subscriber(self) -> None:
        s = self.selected()
        if s is None:
            return
        chat = s.get("chat") or "****"
        question = (
            f"Remove subscriber {chat}? Their {use_text(s, 'targets').split('/')[0]} targets, "
            "benchmarks, contacts and alerts are erased, and their probes stop."
        )
        self.ask_then_call(
            question, "Remove", "remove_subscriber", str(s["id"]), done=f"Removed {chat}."
        )
