"""What SysAlert answers in Telegram: acknowledgements by reply and the chat commands.

Who may talk is decided in chat_roles: admins, subscribers (each acting on what they own) and the
operator's contacts. In a group the group itself must be a subscriber or a contact (its members act
as it). Strangers change nothing: they are logged as masked ids, and only `/start` gets an answer
(how to ask for access; the admins hear of each stranger once). Every action goes through the
engine's command layer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from engine.core.errors import BadInput
from engine.security.privacy import mask_id
from engine.store import subscribers as sstore
from engine.store import telegram as tgstore
from engine.telegram import chat_owner as owner
from engine.telegram import chat_roles as roles
from engine.telegram import chats
from engine.telegram.chat_commands import (
    COMMANDS,
    BadChatCommand,
    ChatCommand,
    help_text,
    is_ack_text,
    parse_chat,
)
from engine.telegram.chat_roles import AccessRequests, Caller
from engine.telegram.chat_status import get_reply, history_reply, status_reply

if TYPE_CHECKING:
    from engine.core.domain import ContactRecord
    from engine.store.outbox import OutboxRow
    from engine.telegram.bridge import TelegramBridge
    from engine.telegram.inbound import IncomingMessage
    from engine.telegram.reactions import IncomingReaction

log = logging.getLogger(__name__)
_INFO = {c.name: c for c in COMMANDS}
SETTLE_EVERY_S = 60.0  # how often a subscriber's own contact and last-seen are refreshed

__all__ = ["Caller", "ChatHandler"]


class ChatHandler:
    def __init__(self, bridge: TelegramBridge) -> None:
        self.bridge = bridge
        self.host = bridge.host
        self.store = bridge.store
        self._lookup_tried: set[str] = set()
        self._settled: dict[str, float] = {}  # subscriber id -> when their contact was checked
        self.access: AccessRequests = bridge.access_requests

    @property
    def _admins(self) -> list[int]:
        return list(self.host.settings.telegram.admins)

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
        return roles.match(self.store, self._admins, sender_id, chat_id, private)

    async def _resolve_unknown(self) -> None:
        """Contacts typed as @username or +phone have no chat id until looked up once; do that
        (once per contact and run) so their first message is recognised."""
        service = self.bridge.service
        if service is None:
            return
        todo = [
            c
            for c in await anyio.to_thread.run_sync(chats.unresolved, self.store)
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

    async def _settle_subscriber(self, who: Caller) -> None:
        """A subscriber's own contact exists and holds their resolved peer (so alerts reach them
        without a lookup), and their last-seen time is fresh. At most once a minute each."""
        sub = who.subscriber
        if sub is None or time.monotonic() - self._settled.get(sub.id, -1e9) < SETTLE_EVERY_S:
            return
        self._settled[sub.id] = time.monotonic()
        await anyio.to_thread.run_sync(sstore.touch, self.store, sub.id)
        await self._store_peer(sub.id, sub.chat_id)

    async def _store_peer(self, sub_id: str, chat_id: int) -> None:
        from engine.store import contacts as cstore
        from engine.telegram.delivery import resolve_peer

        cmds = self.host.commands
        try:
            contact = await anyio.to_thread.run_sync(cmds.subscriber_contact, sub_id)
        except BadInput:
            return  # removed meanwhile
        service = self.bridge.service
        if contact.resolved is not None or service is None:
            return
        try:
            resolved = await resolve_peer(service.client, str(chat_id))
        except Exception as exc:  # not in this session's cache yet: resolved on first send
            log.info(
                "telegram subscriber %s not resolved: %s", mask_id(chat_id), type(exc).__name__
            )
            return
        await anyio.to_thread.run_sync(cstore.set_resolved, self.store, contact.id, resolved)

    # ---- messages -----------------------------------------------------------------------------
    async def on_message(self, m: IncomingMessage) -> str | None:
        who = await self.caller(m.sender_id, m.chat_id, m.is_private)
        if who is None:
            return await self._stranger(m)
        await self._settle_subscriber(who)
        alert = None
        if m.reply_to_msg_id is not None:
            alert = await anyio.to_thread.run_sync(
                tgstore.alert_by_message, self.store, who.chat_contacts, m.reply_to_msg_id
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
            return await self.run(cmd, who, alert)
        except BadInput as exc:  # NotFound included: "No target 'x'."
            return owner.sentence(exc.message)

    async def _stranger(self, m: IncomingMessage) -> str | None:
        log.info(
            "telegram message from %s ignored: not a subscriber or contact",
            mask_id(m.sender_id or m.chat_id),
        )
        words = m.text.strip().split(maxsplit=1)
        if not m.is_private or not words or words[0].split("@", 1)[0].lower() != "/start":
            return None
        told = await self._tell_admins(m.chat_id)
        return owner.stranger_welcome(m.chat_id, told)

    async def _tell_admins(self, chat_id: int) -> bool:
        """One notice per stranger to every admin (rate limited); True once they have been told."""
        service = self.bridge.service
        admins = await anyio.to_thread.run_sync(roles.admin_chats, self.store, self._admins)
        admins = [a for a in admins if a != chat_id]
        if service is None or not admins:
            return False
        if not self.access.should_notify(chat_id):
            return self.access.told(chat_id)
        text = owner.admin_notice(chat_id)
        for admin in admins:
            out = await service.send_alert(str(admin), text)
            if not out.ok:
                log.info("access notice to admin %s not delivered", mask_id(admin))
        return True

    async def on_reaction(self, r: IncomingReaction) -> str | None:
        """A 👍 on an alert acknowledges it (only with [telegram] ack_on_reaction)."""
        if not is_ack_text(r.emoticon):
            return None
        who = await self.caller(r.sender_id, r.chat_id, r.chat_id > 0)
        if who is None:
            log.info("telegram reaction from %s ignored: not a contact", mask_id(r.sender_id))
            return None
        alert = await anyio.to_thread.run_sync(
            tgstore.alert_by_message, self.store, who.chat_contacts, r.message_id
        )
        if alert is None or alert.incident_id is None:
            return None
        try:
            return await self._ack(alert.incident_id, who, alert)
        except BadInput as exc:
            return owner.sentence(exc.message)

    # ---- commands -----------------------------------------------------------------------------
    async def run(
        self, cmd: ChatCommand, who: Caller, alert: OutboxRow | None = None
    ) -> str | None:
        cmds = self.host.commands
        name = cmd.name
        info = _INFO.get(name)
        if info is not None and who.role not in info.roles:
            return _not_for(name, who.role)
        if name == "ack":
            via = alert if cmd.reply_ack else None
            incident = via.incident_id if via is not None else cmd.incident_id
            if not incident:
                return "That message is not an alert; send /ack <incident-id>."
            return await self._ack(incident, who, via)
        if name == "status":
            return await anyio.to_thread.run_sync(status_reply, self.host, who.owner_id)
        if name == "get":
            return await self._get(cmd.target or "", who)
        if name == "history":
            return await anyio.to_thread.run_sync(
                history_reply, self.host, cmd.target, who.owner_id
            )
        if name == "mode":
            return await anyio.to_thread.run_sync(self._mode, cmd, who)
        if name == "whoami":
            if who.role == "contact":
                return self._contact_whoami(who)
            return await anyio.to_thread.run_sync(owner.whoami, cmds, who)
        if name == "delete_account":
            return await self._delete(cmd, who)
        if name == "start":
            return _welcome(who)
        sync = _SYNC.get(name)
        if sync is not None:
            return await anyio.to_thread.run_sync(sync, cmds, who, cmd)
        if name == "addsub":
            text = await anyio.to_thread.run_sync(owner.add_subscriber, cmds, who, cmd.chat_id)
            await self._greet_new(int(cmd.chat_id or 0))
            return text
        if name == "rmsub":
            self.access.forget(int(cmd.chat_id or 0))
            return await owner.remove_subscriber(cmds, who, int(cmd.chat_id or 0))
        if name == "stats":
            return await anyio.to_thread.run_sync(owner.stats, cmds)
        if cmd.topic:
            return _INFO[cmd.topic].usage
        return help_text(who.role, cmd.unknown)

    async def _get(self, ref: str, who: Caller) -> str:
        """A target of theirs (checked now), else a benchmark of theirs (run now)."""
        try:
            return await get_reply(self.host, ref, who.owner_id)
        except BadInput as missing:
            try:
                return await owner.run_benchmark(self.host.commands, ref, who.owner_id)
            except BadInput as exc:
                if ref.lower() == "cpu":
                    raise exc from None
                raise missing from None

    async def _greet_new(self, chat_id: int) -> None:
        """A new subscriber: store their peer now if this session already knows them."""
        self.access.forget(chat_id)
        sub = await anyio.to_thread.run_sync(sstore.find, self.store, chat_id)
        if sub is not None:
            await self._store_peer(sub.id, chat_id)

    async def _ack(self, incident_id: str, who: Caller, alert: OutboxRow | None) -> str:
        # A reply to an alert this chat received acts as the contact it was sent to (a subscriber
        # who is also an operator contact may ack the operator's alert they were sent).
        scope = who.owner_id
        if alert is not None:
            sent_to = next((c for c in who.chat_contacts if c.id == alert.contact_id), None)
            scope = sent_to.owner_id if sent_to is not None else scope
        by = who.actor
        inc = await anyio.to_thread.run_sync(
            lambda: self.host.commands.ack_incident(incident_id, by=by, owner_id=scope)
        )
        what = inc.get("target") or ""
        return f"Acknowledged {inc['id']}{f' ({what})' if what else ''}: reminders and escalation stop."

    def _mode(self, cmd: ChatCommand, who: Caller) -> str:
        cmds = self.host.commands
        target = cmd.target or ""
        label = "all targets" if who.owner_id is None else "all your targets"
        if target != "all":
            rec = cmds.get_target(target, who.owner_id)
            target, label = rec.id, rec.name
        if cmd.mode == "maintenance":
            cmds.maintenance_on(target, by=who.actor, owner_id=who.owner_id)
            return f"Maintenance on for {label}: no alerts until /mode active {cmd.target}."
        res = cmds.maintenance_off(target, by=who.actor, owner_id=who.owner_id)
        text = f"Maintenance off for {label} ({res.get('removed', 0)} window(s) ended)."
        return text + (f"\nNote: {res['note']}." if res.get("note") else "")

    def _contact_whoami(self, who: Caller) -> str:
        c = who.contact
        assert c is not None
        chat = chats.chat_id_for(c)
        where = "this chat" if who.private else "this group"
        return (
            f"You are SysAlert contact {c.name} ({mask_id(chat) if chat is not None else '****'}), "
            f"escalation level {c.level}, role contact. Alerts come to {where}."
        )

    async def _delete(self, cmd: ChatCommand, who: Caller) -> str:
        if not who.private:
            return "Send /delete_account in a private chat with this account."
        sub = who.subscriber
        if sub is not None:
            if not cmd.confirm:
                use = await anyio.to_thread.run_sync(sstore.usage, self.store, sub.id)
                return (
                    f"This erases your SysAlert account: {use['targets']} targets, "
                    f"{use['benchmarks']} benchmarks, their history, your alerts and their read "
                    "receipts.\nSend /delete_account confirm to go on."
                )
            # The audit line says only that a subscriber erased itself: no chat id, no names.
            await self.host.commands.erase_subscriber(sub.chat_id, by="telegram:self")
            self._settled.pop(sub.id, None)
            return "Your SysAlert account and everything it owned are erased. Goodbye."
        if who.contact is None:
            return (
                "Nothing to erase: you are an admin through the config file; the operator "
                "removes you there."
            )
        if not cmd.confirm:
            return (
                "This erases your SysAlert contact, the alerts sent to you and their read receipts."
                "\nSend /delete_account confirm to go on."
            )
        cid = who.contact.id
        # The audit entry says only that a contact erased itself: no name, no chat id.
        await anyio.to_thread.run_sync(
            lambda: self.host.commands.remove_contact(cid, by="telegram:self")
        )
        return "Your SysAlert data is erased; you will get no more alerts here."

    def _ref(self, c: ContactRecord) -> str:
        return self.store.ref("contact", c.id)


_SYNC: dict[str, Callable[..., str]] = {
    "addtarget": owner.add_target,
    "rmtarget": owner.remove_target,
    "setbench": owner.add_benchmark,
    "rmbench": owner.remove_benchmark,
}


def _not_for(name: str, role: str) -> str:
    if _INFO[name].roles == frozenset({"admin"}):
        return f"/{name} is for admins; ask the SysAlert operator."
    return f"/{name} is for subscribers and admins; ask the SysAlert operator."


def _welcome(who: Caller) -> str:
    if who.role == "contact":
        return "SysAlert sends its alerts to you from this account.\n/help lists what you can ask."
    lines = [
        f"Welcome to SysAlert. You are {who.masked}, role {who.role}.",
        "/addtarget adds a target to watch, /setbench a benchmark; alerts about them come here.",
    ]
    if who.role == "admin":
        lines.append("/addsub, /rmsub and /stats manage the subscribers.")
    lines.append("/help lists every command.")
    return "\n".join(lines)
