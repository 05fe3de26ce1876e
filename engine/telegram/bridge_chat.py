"""What SysAlert answers in Telegram: acknowledgements by reply and the chat commands.

Only authorised contacts get an answer: in a private chat the sender must be a Telegram contact;
in a group the group itself must be one (its members act as that contact). Everyone else is
ignored and logged as a masked id. Every action goes through the engine's command layer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from engine.domain import ContactRecord
from engine.errors import BadInput
from engine.privacy import mask_id
from engine.telegram import bridge_store as bstore
from engine.telegram.chat_commands import (
    COMMANDS,
    BadChatCommand,
    ChatCommand,
    help_text,
    is_ack_text,
    parse_chat,
)
from engine.telegram.chat_status import get_reply, history_reply, status_reply

if TYPE_CHECKING:
    from engine.telegram.bridge import TelegramBridge
    from engine.telegram.inbound import IncomingMessage
    from engine.telegram.reactions import IncomingReaction

log = logging.getLogger(__name__)
_USAGE = {c.name: c.usage for c in COMMANDS}
_NOT_FOR_CONTACTS = ("addtarget", "setbench", "addsub", "rmsub", "stats")


@dataclass(frozen=True)
class Caller:
    """Who is talking: the contact they act as, and every contact entry of that chat."""

    contact: ContactRecord
    chat_contacts: list[ContactRecord]
    private: bool


class ChatHandler:
    def __init__(self, bridge: TelegramBridge) -> None:
        self.bridge = bridge
        self.engine = bridge.engine
        self.store = bridge.store
        self._lookup_tried: set[str] = set()

    # ---- who may talk -------------------------------------------------------------------------
    async def caller(self, sender_id: int | None, chat_id: int, private: bool) -> Caller | None:
        found = await anyio.to_thread.run_sync(self._match, sender_id, chat_id, private)
        if found is None:
            # Match again even when this lookup found nothing new: a send may have cached the
            # contact's chat id meanwhile.
            await self._resolve_unknown()
            found = await anyio.to_thread.run_sync(self._match, sender_id, chat_id, private)
        return found

    def _match(self, sender_id: int | None, chat_id: int, private: bool) -> Caller | None:
        if private and sender_id != chat_id:
            return None
        in_chat = bstore.contacts_in_chat(self.store, chat_id)
        if not in_chat:
            return None
        ok = [c for c in in_chat if c.status == "ok"] or in_chat
        return Caller(ok[0], in_chat, private)

    async def _resolve_unknown(self) -> None:
        """Contacts typed as @username or +phone have no chat id until looked up once; do that
        (once per contact and run) so their first message is recognised."""
        service = self.bridge.service
        if service is None:
            return
        todo = [
            c
            for c in await anyio.to_thread.run_sync(bstore.unresolved, self.store)
            if c.id not in self._lookup_tried
        ]
        if not todo:
            return
        from engine.store import contacts as cstore
        from engine.telegram.delivery import resolve_peer

        for c in todo:
            self._lookup_tried.add(c.id)
            try:
                resolved = await resolve_peer(service.client, c.address)
            except Exception as exc:
                log.info("telegram contact %s not resolved: %s", self._ref(c), type(exc).__name__)
                continue
            await anyio.to_thread.run_sync(cstore.set_resolved, self.store, c.id, resolved)

    # ---- messages -----------------------------------------------------------------------------
    async def on_message(self, m: IncomingMessage) -> str | None:
        who = await self.caller(m.sender_id, m.chat_id, m.is_private)
        if who is None:
            log.info(
                "telegram message from %s ignored: not a contact", mask_id(m.sender_id or m.chat_id)
            )
            return None
        alert = None
        if m.reply_to_msg_id is not None:
            alert = await anyio.to_thread.run_sync(
                bstore.alert_by_message, self.store, who.chat_contacts, m.reply_to_msg_id
            )
        try:
            cmd = parse_chat(m.text, alert is not None)
        except BadChatCommand as exc:
            return exc.reply
        if cmd.name == "help" and not m.text.strip().startswith("/"):
            # Chatter, not a command: a hint in private, silence in groups.
            return (
                "Reply ack to an alert to acknowledge it; /help lists the commands."
                if m.is_private
                else None
            )
        try:
            return await self.run(cmd, who, alert.incident_id if alert is not None else None)
        except BadInput as exc:  # NotFound included: "No target 'x'."
            return _sentence(exc.message)

    async def on_reaction(self, r: IncomingReaction) -> str | None:
        """A 👍 on an alert acknowledges it (only with [telegram] ack_on_reaction)."""
        if not is_ack_text(r.emoticon):
            return None
        who = await self.caller(r.sender_id, r.chat_id, r.chat_id > 0)
        if who is None:
            log.info("telegram reaction from %s ignored: not a contact", mask_id(r.sender_id))
            return None
        alert = await anyio.to_thread.run_sync(
            bstore.alert_by_message, self.store, who.chat_contacts, r.message_id
        )
        if alert is None or alert.incident_id is None:
            return None
        try:
            return await self._ack(alert.incident_id, who)
        except BadInput as exc:
            return _sentence(exc.message)

    # ---- commands -----------------------------------------------------------------------------
    async def run(self, cmd: ChatCommand, who: Caller, replied_incident: str | None) -> str | None:
        c = who.contact
        if cmd.name == "ack":
            incident = replied_incident if cmd.reply_ack else cmd.incident_id
            if not incident:
                return "That message is not an alert; send /ack <incident-id>."
            return await self._ack(incident, who)
        if cmd.name == "status":
            return await anyio.to_thread.run_sync(status_reply, self.engine, c.owner_id)
        if cmd.name == "get":
            return await get_reply(self.engine, cmd.target or "", c.owner_id)
        if cmd.name == "history":
            return await anyio.to_thread.run_sync(
                history_reply, self.engine, cmd.target, c.owner_id
            )
        if cmd.name == "mode":
            return await anyio.to_thread.run_sync(self._mode, cmd, c)
        if cmd.name == "whoami":
            return self._whoami(who)
        if cmd.name == "delete_account":
            return await self._delete(cmd, who)
        if cmd.name == "start":
            return (
                "SysAlert sends its alerts to you from this account.\n/help lists what you can ask."
            )
        if cmd.name in _NOT_FOR_CONTACTS:
            return f"/{cmd.name} is for subscribers and admins; ask the SysAlert operator."
        if cmd.topic:
            return _USAGE[cmd.topic]
        return help_text("contact", cmd.unknown)

    async def _ack(self, incident_id: str, who: Caller) -> str:
        c = who.contact
        inc = await anyio.to_thread.run_sync(
            lambda: self.engine.commands.ack_incident(incident_id, by=c.name, owner_id=c.owner_id)
        )
        what = inc.get("target") or ""
        return f"Acknowledged {inc['id']}{f' ({what})' if what else ''}: reminders and escalation stop."

    def _mode(self, cmd: ChatCommand, c: ContactRecord) -> str:
        cmds = self.engine.commands
        target = cmd.target or ""
        label = "all targets"
        if target != "all":
            rec = cmds.get_target(target, c.owner_id)
            target, label = rec.id, rec.name
        if cmd.mode == "maintenance":
            cmds.maintenance_on(target, by=c.name, owner_id=c.owner_id)
            return f"Maintenance on for {label}: no alerts until /mode active {cmd.target}."
        res = cmds.maintenance_off(target, by=c.name, owner_id=c.owner_id)
        return f"Maintenance off for {label} ({res.get('removed', 0)} window(s) ended)."

    def _whoami(self, who: Caller) -> str:
        c = who.contact
        chat = bstore.chat_id_for(c)
        where = "this chat" if who.private else "this group"
        return (
            f"You are SysAlert contact {c.name} ({mask_id(chat) if chat is not None else '****'}), "
            f"escalation level {c.level}, role contact. Alerts come to {where}."
        )

    async def _delete(self, cmd: ChatCommand, who: Caller) -> str:
        if not who.private:
            return "Send /delete_account in a private chat with this account."
        if not cmd.confirm:
            return (
                "This erases your SysAlert contact, the alerts sent to you and their read receipts."
                "\nSend /delete_account confirm to go on."
            )
        cid = who.contact.id
        # The audit entry says only that a contact erased itself: no name, no chat id.
        await anyio.to_thread.run_sync(
            lambda: self.engine.commands.remove_contact(cid, by="telegram:self")
        )
        return "Your SysAlert data is erased; you will get no more alerts here."

    def _ref(self, c: ContactRecord) -> str:
        return self.store.ref("contact", c.id)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:].rstrip(".") + "."
