"""Sort Telethon's errors into what SysAlert does about them: wait, retry, give up on a contact, or
declare the session broken. One table, so delivery and the service never disagree.
"""

from __future__ import annotations

import asyncio

from telethon import errors

from engine.telegram.compat import rpc_error

# Errors that mean our own session is unusable: logging in again is the only fix.
SESSION_BROKEN: tuple[type[BaseException], ...] = (
    errors.UnauthorizedError,  # AUTH_KEY_UNREGISTERED, SESSION_REVOKED, USER_DEACTIVATED(_BAN), ...
    errors.AuthKeyError,  # AUTH_KEY_DUPLICATED
    errors.AuthKeyNotFound,
)

# Contact-side errors: resending the same message to the same peer cannot succeed.
_PERMANENT: dict[type[BaseException], str] = {
    errors.UserIsBlockedError: "the contact has blocked the SysAlert account",
    errors.YouBlockedUserError: "the SysAlert account has blocked this contact",
    errors.InputUserDeactivatedError: "the contact's Telegram account was deleted",
    errors.ChatWriteForbiddenError: "the SysAlert account may not write in this chat",
    rpc_error(
        "ChatSendPlainForbiddenError", "CHAT_SEND_PLAIN_FORBIDDEN", errors.ForbiddenError
    ): "this chat does not allow text messages",  # Telethon 1.43+
    errors.ChatGuestSendForbiddenError: "the SysAlert account must join this chat first",
    errors.ChatAdminRequiredError: "only admins may post in this chat",
    errors.ChatRestrictedError: "this chat is restricted",
    errors.ChatForbiddenError: "the SysAlert account has no access to this chat",
    errors.UserBannedInChannelError: "the SysAlert account is banned from sending here",
    errors.ChannelPrivateError: "the channel is private or the SysAlert account was removed",
    errors.ChannelInvalidError: "the channel id is not valid",
    errors.ChatIdInvalidError: "the chat id is not valid",
    errors.PeerIdInvalidError: "the chat id is not valid or unknown to this account",
    errors.UserIdInvalidError: "the user id is not valid",
    errors.UsernameNotOccupiedError: "no Telegram user has this username",
    errors.UsernameInvalidError: "this is not a valid Telegram username",
    errors.UserPrivacyRestrictedError: "the contact's privacy settings refuse messages",
    errors.MessageTooLongError: "the message is too long",
    errors.MessageEmptyError: "the message is empty",
}

NETWORK: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    errors.ServerError,
    errors.TimedOutError,
)


def is_session_broken(exc: BaseException) -> bool:
    return isinstance(exc, SESSION_BROKEN)


def broken_reason(exc: BaseException) -> str:
    """A short reason for health and the local incident: the error class says it all."""
    return type(exc).__name__


def permanent_reason(exc: BaseException) -> str | None:
    """The sentence for a contact-side error, or None when the error may pass."""
    for cls in type(exc).__mro__:
        if cls in _PERMANENT:
            return _PERMANENT[cls]
    if isinstance(exc, errors.BadRequestError | errors.ForbiddenError | errors.NotFoundError):
        return f"Telegram refused the message ({type(exc).__name__})"
    return None


def flood_seconds(exc: BaseException) -> float | None:
    """Seconds Telegram asked us to wait, for FloodWait, SlowModeWait and kin."""
    if isinstance(exc, errors.FloodError):
        seconds = getattr(exc, "seconds", None)
        return float(max(1, seconds or 1))
    if isinstance(exc, errors.PeerFloodError):
        return 3600.0  # account limited for messaging non-contacts; try again much later
    return None
