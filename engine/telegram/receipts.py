"""Read receipts for the messages we sent: pushed (outbox-read updates) and polled (dialogs'
read_outbox_max_id), so a push missed during a disconnect still marks the alert read.

A receipt says "everything up to max_id in chat_id has been read"; marking is idempotent, so the
same receipt arriving by push and by poll is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from telethon import TelegramClient, errors, events, utils
from telethon.tl import functions, types

from engine.security.privacy import mask_id
from engine.telegram import failures
from engine.telegram.delivery import input_peer_from_resolved

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
OnRead = Callable[["ReadReceipt"], Awaitable[None]]
_BATCH = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReadReceipt:
    """chat_id is the marked id (user id, -chat id, -100… channel id), as delivery.chat_id_of.
    reader_id is set only when Telegram names who read (group read participants)."""

    chat_id: int
    max_id: int
    at: datetime
    reader_id: int | None = None


def attach_read_handler(client: TelegramClient, on_read: OnRead, *, clock: Clock = utcnow):
    """Register for UpdateReadHistoryOutbox / UpdateReadChannelOutbox; returns the handler so the
    caller can remove it. Errors in on_read are logged, never raised into Telethon."""

    async def _on_outbox_read(event: events.MessageRead.Event) -> None:
        if not event.outbox or not event.max_id:
            return
        receipt = ReadReceipt(chat_id=int(event.chat_id), max_id=int(event.max_id), at=clock())
        try:
            await on_read(receipt)
        except Exception as exc:
            log.warning(
                "read receipt handler failed for %s: %s",
                mask_id(receipt.chat_id),
                type(exc).__name__,
            )

    client.add_event_handler(_on_outbox_read, events.MessageRead(inbox=False))
    return _on_outbox_read


def _as_input_peer(peer: str | object) -> object:
    return input_peer_from_resolved(peer) if isinstance(peer, str) else peer


async def poll_read_state(
    client: TelegramClient, peers: Iterable[str | object], *, clock: Clock = utcnow
) -> list[ReadReceipt]:
    """Ask Telegram how far each chat has read our messages (messages.getPeerDialogs).

    Network and session errors propagate (the caller retries or marks the session broken); a peer
    Telegram refuses is skipped so one stale contact cannot block the rest.
    """
    inputs = [_as_input_peer(p) for p in peers]
    receipts: list[ReadReceipt] = []
    for start in range(0, len(inputs), _BATCH):
        chunk = inputs[start : start + _BATCH]
        for dialogs in await _dialogs(client, chunk):
            for dialog in dialogs:
                if isinstance(dialog, types.Dialog) and dialog.read_outbox_max_id:
                    receipts.append(
                        ReadReceipt(
                            chat_id=int(utils.get_peer_id(dialog.peer)),
                            max_id=int(dialog.read_outbox_max_id),
                            at=clock(),
                        )
                    )
    return receipts


async def _dialogs(client: TelegramClient, chunk: list) -> list[list]:
    request = functions.messages.GetPeerDialogsRequest([types.InputDialogPeer(p) for p in chunk])
    try:
        return [(await client(request)).dialogs]
    except errors.RPCError as exc:
        if failures.is_session_broken(exc) or failures.flood_seconds(exc) is not None:
            raise
        if not isinstance(exc, errors.BadRequestError | errors.ForbiddenError):
            raise
        if len(chunk) == 1:
            log.info(
                "read state unavailable for %s: %s",
                mask_id(utils.get_peer_id(chunk[0])),
                type(exc).__name__,
            )
            return []
    out: list[list] = []
    for peer in chunk:  # one bad peer fails the batch; find it
        out.extend(await _dialogs(client, [peer]))
    return out


async def read_participants(
    client: TelegramClient, peer: str | object, message_id: int
) -> list[ReadReceipt]:
    """Who in a small group read one message, when Telegram offers it (groups under 100 members,
    messages under 7 days). Anything else gives an empty list: it is extra detail, not a receipt."""
    input_peer = _as_input_peer(peer)
    try:
        result = await client(
            functions.messages.GetMessageReadParticipantsRequest(input_peer, message_id)
        )
    except errors.RPCError as exc:
        if failures.is_session_broken(exc):
            raise
        return []
    chat_id = int(utils.get_peer_id(input_peer))
    return [
        ReadReceipt(chat_id=chat_id, max_id=message_id, at=p.date, reader_id=int(p.user_id))
        for p in result
        if isinstance(p, types.ReadParticipantDate)
    ]
