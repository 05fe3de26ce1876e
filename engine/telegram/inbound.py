"""Incoming chat messages (replies to alerts, chat commands) and the wiring of all update handlers.

The handler hands a plain IncomingMessage to the engine's callback and sends back whatever text
the callback returns, as a reply to that message. Who may do what is the callback's decision;
this module only drops group chatter (neither a /command nor a reply) and senders over the
optional rate limit before the engine sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telethon import TelegramClient, events
from telethon.tl import types

from engine.security.privacy import mask_id
from engine.telegram.chat_commands import RateLimiter
from engine.telegram.delivery import MAX_TEXT
from engine.telegram.reactions import OnReaction, attach_reaction_handler
from engine.telegram.receipts import Clock, OnRead, attach_read_handler, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingMessage:
    """chat_id is the marked id (as ReadReceipt.chat_id); reply_to_msg_id is the message this one
    answers, which for an `ack` is the alert's Telegram message id."""

    sender_id: int | None
    chat_id: int
    text: str
    message_id: int
    reply_to_msg_id: int | None
    is_private: bool


OnMessage = Callable[[IncomingMessage], Awaitable[str | None]]


def to_incoming(message: types.Message) -> IncomingMessage:
    reply = message.reply_to
    reply_id = reply.reply_to_msg_id if isinstance(reply, types.MessageReplyHeader) else None
    return IncomingMessage(
        sender_id=message.sender_id,
        chat_id=int(message.chat_id),
        text=message.message or "",
        message_id=int(message.id),
        reply_to_msg_id=int(reply_id) if reply_id else None,
        is_private=bool(message.is_private),
    )


def attach_message_handler(
    client: TelegramClient, on_message: OnMessage, *, limiter: RateLimiter | None = None
):
    """Register for incoming new messages with text; returns the handler for removal."""

    async def _on_new_message(event: events.NewMessage.Event) -> None:
        message = event.message
        if message.out or not message.message:
            return
        incoming = to_incoming(message)
        if not incoming.is_private and not (
            incoming.text.startswith("/") or incoming.reply_to_msg_id is not None
        ):
            return  # group chatter: only commands and replies concern us
        who = mask_id(incoming.sender_id if incoming.sender_id is not None else incoming.chat_id)
        if limiter is not None and not limiter.allow(incoming.sender_id or incoming.chat_id):
            log.info("telegram message from %s dropped: over the rate limit", who)
            return
        try:
            reply = await on_message(incoming)
        except Exception as exc:
            log.warning("telegram message handler failed for %s: %s", who, type(exc).__name__)
            return
        if not reply or not reply.strip():
            return
        try:
            await client.send_message(
                await event.get_input_chat(),
                reply[:MAX_TEXT],
                reply_to=incoming.message_id,
                parse_mode=None,
                link_preview=False,
            )
        except Exception as exc:
            log.warning("telegram reply to %s failed: %s", who, type(exc).__name__)

    client.add_event_handler(_on_new_message, events.NewMessage(incoming=True))
    return _on_new_message


def attach_handlers(
    client: TelegramClient,
    on_read: OnRead,
    on_message: OnMessage,
    *,
    on_reaction: OnReaction | None = None,
    limiter: RateLimiter | None = None,
    clock: Clock = utcnow,
) -> list:
    """All handlers at once (reactions only when on_reaction is given, i.e. ack_on_reaction);
    pass the result to detach_handlers to undo."""
    handlers = [
        attach_read_handler(client, on_read, clock=clock),
        attach_message_handler(client, on_message, limiter=limiter),
    ]
    if on_reaction is not None:
        handlers.append(attach_reaction_handler(client, on_reaction, limiter=limiter))
    return handlers


def detach_handlers(client: TelegramClient, handlers: list) -> None:
    for handler in handlers:
        client.remove_event_handler(handler)
