"""Reactions on our messages, for `ack_on_reaction`: a 👍 on the alert can acknowledge it.

Telegram sends the message's recent reactions as a whole (UpdateMessageReactions), so the same
reaction shows up again whenever someone else reacts; a small memory of what was already reported
keeps the callback to one call per (chat, message, person, emoji).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telethon import TelegramClient, events, utils
from telethon.tl import types

from engine.security.privacy import mask_id
from engine.telegram.chat_commands import RateLimiter
from engine.telegram.delivery import MAX_TEXT

log = logging.getLogger(__name__)
_REMEMBER = 2048


@dataclass(frozen=True)
class IncomingReaction:
    """Someone other than us reacted with `emoticon` to message `message_id` in `chat_id`."""

    sender_id: int
    chat_id: int
    message_id: int
    emoticon: str


OnReaction = Callable[[IncomingReaction], Awaitable[str | None]]


def attach_reaction_handler(
    client: TelegramClient, on_reaction: OnReaction, *, limiter: RateLimiter | None = None
):
    """Register for reaction updates; a non-empty string returned by on_reaction is sent as a
    reply to the reacted message. Returns the handler for removal."""
    seen: OrderedDict[tuple[int, int, int, str], None] = OrderedDict()

    async def _on_reactions(update: types.UpdateMessageReactions) -> None:
        chat_id = int(utils.get_peer_id(update.peer))
        for item in update.reactions.recent_reactions or []:
            if item.my or not isinstance(item.reaction, types.ReactionEmoji):
                continue
            reaction = IncomingReaction(
                int(utils.get_peer_id(item.peer_id)),
                chat_id,
                int(update.msg_id),
                item.reaction.emoticon,
            )
            key = (reaction.chat_id, reaction.message_id, reaction.sender_id, reaction.emoticon)
            if key in seen:
                continue
            seen[key] = None
            if len(seen) > _REMEMBER:
                seen.popitem(last=False)
            await _deliver(client, update.peer, reaction, on_reaction, limiter)

    client.add_event_handler(_on_reactions, events.Raw(types.UpdateMessageReactions))
    return _on_reactions


async def _deliver(client, peer, reaction, on_reaction, limiter) -> None:
    who = mask_id(reaction.sender_id)
    if limiter is not None and not limiter.allow(reaction.sender_id):
        log.info("telegram reaction from %s dropped: over the rate limit", who)
        return
    try:
        reply = await on_reaction(reaction)
        if reply and reply.strip():
            await client.send_message(
                await client.get_input_entity(peer),
                reply[:MAX_TEXT],
                reply_to=reaction.message_id,
                parse_mode=None,
                link_preview=False,
            )
    except Exception as exc:
        log.warning("telegram reaction from %s not handled: %s", who, type(exc).__name__)
