"""Send alerts from the user session and say what the outbox should do next.

Contacts are typed as a numeric id, @username or +phone. Resolving costs a request (and usernames
hit flood limits fast), so the first send returns the peer in a compact string form
(`user:ID:HASH`, `chat:ID`, `channel:ID:HASH`) that the caller seals and passes back next time.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telethon import TelegramClient, errors, utils
from telethon.tl import functions, types

from engine.core.errors import BadInput
from engine.notify.message import SendOutcome
from engine.security.privacy import mask_id
from engine.telegram import failures

log = logging.getLogger(__name__)

MAX_TEXT = 4096
OnBroken = Callable[[str], Awaitable[None] | None]
InputPeer = Any  # InputPeerUser | InputPeerChat | InputPeerChannel (Telethon is untyped)
_RESOLVED = re.compile(r"^(user|channel):(\d{1,20}):(-?\d{1,20})$|^chat:(\d{1,20})$")
_USERNAME = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,31})$")
_PHONE = re.compile(r"^\+[0-9][0-9 ()-]{5,20}$")
_NUMERIC = re.compile(r"^-?\d{1,20}$")


@dataclass
class TelegramSendOutcome(SendOutcome):
    """SendOutcome plus the resolved peer, to seal and reuse (None when resolution failed)."""

    resolved: str | None = None


class PeerNotFound(ValueError):
    """The reference is well-formed but names nobody this account can reach."""


def is_resolved(ref: str) -> bool:
    return bool(_RESOLVED.match(ref.strip()))


def serialize_peer(peer: object) -> str:
    """InputPeer to `user:ID:HASH` / `chat:ID` / `channel:ID:HASH`."""
    if isinstance(peer, types.InputPeerUser):
        return f"user:{peer.user_id}:{peer.access_hash}"
    if isinstance(peer, types.InputPeerChat):
        return f"chat:{peer.chat_id}"
    if isinstance(peer, types.InputPeerChannel):
        return f"channel:{peer.channel_id}:{peer.access_hash}"
    raise PeerNotFound(f"unsupported peer type {type(peer).__name__}")


def input_peer_from_resolved(s: str) -> InputPeer:
    """The inverse of serialize_peer; BadInput for anything else (a corrupt cache entry)."""
    m = _RESOLVED.match(s.strip())
    if not m:
        raise BadInput(
            "not a resolved Telegram peer", "expected user:ID:HASH, chat:ID or channel:ID:HASH"
        )
    kind, pid, access_hash, chat_id = m.groups()
    if chat_id is not None:
        return types.InputPeerChat(int(chat_id))
    if kind == "user":
        return types.InputPeerUser(int(pid), int(access_hash))
    return types.InputPeerChannel(int(pid), int(access_hash))


def chat_id_of(resolved: str) -> int:
    """The marked chat id (user id, -chat id, -100… channel id) that ReadReceipt.chat_id uses."""
    return int(utils.get_peer_id(input_peer_from_resolved(resolved)))


def check_ref(ref: str) -> str:
    """Validate a contact reference as typed; returns it normalised. BadInput says the forms."""
    text = (ref or "").strip()
    if is_resolved(text) or _NUMERIC.match(text) or text.lower() in ("me", "self"):
        return text
    if _PHONE.match(text):
        return "+" + "".join(ch for ch in text if ch.isdigit())
    m = _USERNAME.match(text)
    if m and text.startswith("@"):
        return "@" + m.group(1)
    raise BadInput(
        "not a Telegram contact", "use a numeric chat id, @username or +phone (international form)"
    )


async def resolve_peer(client: TelegramClient, ref: str) -> str:
    """Resolve a contact reference once; raises PeerNotFound, BadInput or Telethon's errors."""
    text = check_ref(ref)
    if is_resolved(text):
        return text
    if text.lower() in ("me", "self"):
        return serialize_peer(await client.get_me(input_peer=True))
    if _NUMERIC.match(text):
        target: object = int(text)
    else:
        target = text
    try:
        peer = await client.get_input_entity(target)
    except ValueError:
        if not text.startswith("+"):
            raise PeerNotFound("cannot find this contact") from None
        peer = await _import_phone(client, text)
    if isinstance(peer, types.InputPeerSelf):
        peer = await client.get_me(input_peer=True)
    return serialize_peer(peer)


async def _import_phone(client: TelegramClient, phone: str) -> InputPeer:
    """Phones resolve only for contacts, so add the number as a contact (Telegram's only way)."""
    contact = types.InputPhoneContact(
        client_id=random.randrange(1, 2**62),
        phone=phone,
        first_name="SysAlert contact",
        last_name="",
    )
    result = await client(functions.contacts.ImportContactsRequest([contact]))
    for user in result.users:
        if isinstance(user, types.User) and user.access_hash is not None:
            return types.InputPeerUser(user.id, user.access_hash)
    raise PeerNotFound(
        "no Telegram account with this phone number, or its privacy settings hide it"
    )


def outcome_for(exc: BaseException, resolved: str | None = None) -> TelegramSendOutcome:
    """Map an exception to retry semantics (see engine.telegram.failures for the table)."""
    name = type(exc).__name__
    if failures.is_session_broken(exc):
        return TelegramSendOutcome(
            ok=False, error=f"Telegram session is broken ({name}); log in again", resolved=resolved
        )
    wait = failures.flood_seconds(exc)
    if wait is not None:
        return TelegramSendOutcome(
            ok=False,
            retry_after=wait,
            error=f"Telegram asks to wait {int(wait)} s",
            resolved=resolved,
        )
    if isinstance(exc, PeerNotFound | BadInput):
        return TelegramSendOutcome(ok=False, permanent=True, error=str(exc), resolved=resolved)
    reason = failures.permanent_reason(exc)
    if reason is not None:
        return TelegramSendOutcome(ok=False, permanent=True, error=reason, resolved=resolved)
    if isinstance(exc, ValueError):  # Telethon's "cannot find any entity"
        return TelegramSendOutcome(
            ok=False, permanent=True, error="cannot find this contact", resolved=resolved
        )
    if isinstance(exc, failures.NETWORK):
        return TelegramSendOutcome(ok=False, error=f"network error ({name})", resolved=resolved)
    return TelegramSendOutcome(ok=False, error=f"Telegram error ({name})", resolved=resolved)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


async def _report_broken(on_broken: OnBroken | None, exc: BaseException) -> None:
    if on_broken is not None and failures.is_session_broken(exc):
        result = on_broken(failures.broken_reason(exc))
        if result is not None:
            await result


async def send_alert(
    client: TelegramClient,
    peer_ref: str,
    text: str,
    reply_to: int | None = None,
    *,
    on_broken: OnBroken | None = None,
) -> TelegramSendOutcome:
    """Send one message; never raises. `message_id` is Telegram's id as a string."""
    resolved: str | None = None
    try:
        resolved = await resolve_peer(client, peer_ref)
        peer = input_peer_from_resolved(resolved)
        message = await client.send_message(
            peer, _clip(text), reply_to=reply_to, parse_mode=None, link_preview=False
        )
    except Exception as exc:
        await _report_broken(on_broken, exc)
        outcome = outcome_for(exc, resolved)
        log.info("telegram send to %s failed: %s", _masked(peer_ref), type(exc).__name__)
        return outcome
    return TelegramSendOutcome(ok=True, message_id=str(message.id), resolved=resolved)


async def edit_or_reply_resolved(
    client: TelegramClient,
    peer: str,
    message_id: int,
    text: str,
    *,
    prefer: str = "edit",
    on_broken: OnBroken | None = None,
) -> TelegramSendOutcome:
    """Tell the chat an incident resolved: edit the original alert (a tidy chat), or reply to it
    when editing is impossible (too old, deleted) or `prefer="reply"` (a reply notifies)."""
    resolved: str | None = None
    try:
        resolved = await resolve_peer(client, peer)
        input_peer = input_peer_from_resolved(resolved)
        if prefer == "edit":
            try:
                edited = await client.edit_message(
                    input_peer, message_id, _clip(text), parse_mode=None, link_preview=False
                )
                edited_id = getattr(edited, "id", None) or message_id
                return TelegramSendOutcome(ok=True, message_id=str(edited_id), resolved=resolved)
            except errors.MessageNotModifiedError:
                return TelegramSendOutcome(ok=True, message_id=str(message_id), resolved=resolved)
            except (
                errors.MessageEditTimeExpiredError,
                errors.MessageIdInvalidError,
                errors.MessageAuthorRequiredError,
            ):
                pass
        sent = await client.send_message(
            input_peer, _clip(text), reply_to=message_id, parse_mode=None, link_preview=False
        )
        return TelegramSendOutcome(ok=True, message_id=str(sent.id), resolved=resolved)
    except Exception as exc:
        await _report_broken(on_broken, exc)
        log.info("telegram resolved notice to %s failed: %s", _masked(peer), type(exc).__name__)
        return outcome_for(exc, resolved)


def _masked(ref: str) -> str:
    digits = "".join(ch for ch in ref if ch.isdigit())
    return mask_id(digits or ref)
