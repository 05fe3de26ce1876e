"""Interactive login for the user session: phone, code, and the 2FA password only when the account
has one. The CLI and the console's login screen pass their own prompts; the flow is this one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telethon import TelegramClient, errors, utils

from engine.core.errors import SysAlertError
from engine.security.privacy import mask_id
from engine.telegram.client import session_string

log = logging.getLogger(__name__)

MAX_TRIES = 3
Prompt = Callable[[], Awaitable[str]]


class LoginError(SysAlertError):
    """Login could not finish; the message says why and what to do."""


@dataclass
class LoginPrompts:
    """Async prompts: `password` is only awaited for accounts with 2FA. `notify` shows a retry
    hint ("that code is not right") and may be left out."""

    phone: Prompt
    code: Prompt
    password: Prompt
    notify: Callable[[str], Awaitable[None]] | None = None


@dataclass(frozen=True)
class LoginResult:
    """`session_string` is a secret: seal it, never log it. `display` is the masked account id."""

    session_string: str
    user_id: int
    display: str


def flood_message(exc: errors.FloodWaitError | errors.FloodError | Exception) -> str:
    seconds = getattr(exc, "seconds", None)
    if seconds:
        return f"Telegram asks to wait {seconds} s before trying again"
    return "Telegram asks to wait before trying again"


async def _say(ask: LoginPrompts, text: str) -> None:
    if ask.notify is not None:
        await ask.notify(text)


async def login(client: TelegramClient, ask: LoginPrompts) -> LoginResult:
    """Run the whole login on a built client; raises LoginError with a sentence on failure."""
    try:
        if not client.is_connected():
            await client.connect()
        me = await client.get_me()
        if me is None:
            me = await _sign_in(client, ask)
    except LoginError:
        raise
    except (errors.FloodWaitError, errors.FloodError) as exc:
        raise LoginError(flood_message(exc)) from None
    except errors.RPCError as exc:
        raise LoginError(f"Telegram refused the login ({type(exc).__name__})") from None
    except (OSError, ConnectionError) as exc:
        raise LoginError(
            f"cannot reach Telegram ({type(exc).__name__})",
            "check the network and [telegram] server",
        ) from None
    log.info("telegram login ok for account %s", mask_id(me.id))
    return LoginResult(session_string(client), int(me.id), mask_id(me.id))


async def _sign_in(client: TelegramClient, ask: LoginPrompts):
    phone = await _send_code(client, ask)
    for attempt in range(1, MAX_TRIES + 1):
        code = "".join((await ask.code()).split())
        if not code:
            await _say(ask, "The login code is empty; type the code Telegram sent you.")
            continue
        try:
            return await client.sign_in(phone=phone, code=code)
        except (errors.PhoneCodeInvalidError, errors.PhoneCodeEmptyError):
            left = MAX_TRIES - attempt
            if left:
                await _say(ask, f"That login code is not right; try again ({left} left).")
        except errors.PhoneCodeExpiredError:
            raise LoginError(
                "The login code expired", "run the login again to get a new code"
            ) from None
        except errors.SessionPasswordNeededError:
            return await _check_password(client, ask)
        except errors.PhoneNumberUnoccupiedError:
            raise LoginError(
                "This phone number has no Telegram account",
                "sign up in an official Telegram app first",
            ) from None
    raise LoginError(f"The login code was wrong {MAX_TRIES} times", "run the login again")


async def _send_code(client: TelegramClient, ask: LoginPrompts) -> str:
    for attempt in range(1, MAX_TRIES + 1):
        phone = utils.parse_phone((await ask.phone()).strip())
        left = MAX_TRIES - attempt
        if not phone or not 7 <= len(phone) <= 15:
            if left:
                await _say(
                    ask,
                    "That is not a phone number; use the international form, e.g. +44 7700 900123.",
                )
            continue
        try:
            await client.send_code_request(phone)
            return phone
        except errors.PhoneNumberInvalidError:
            if left:
                await _say(
                    ask, f"Telegram says that phone number is not valid; try again ({left} left)."
                )
        except errors.PhoneNumberBannedError:
            raise LoginError("Telegram has banned this phone number") from None
        except errors.ApiIdInvalidError:
            raise LoginError(
                "Telegram does not accept this API id/hash", "check them at https://my.telegram.org"
            ) from None
    raise LoginError(f"No valid phone number after {MAX_TRIES} tries", "run the login again")


async def _check_password(client: TelegramClient, ask: LoginPrompts):
    for attempt in range(1, MAX_TRIES + 1):
        password = await ask.password()
        if not password:
            await _say(ask, "The 2FA password is empty.")
            continue
        try:
            return await client.sign_in(password=password)
        except errors.PasswordHashInvalidError:
            left = MAX_TRIES - attempt
            if left:
                await _say(ask, f"That 2FA password is not right; try again ({left} left).")
        except ValueError:
            # Telethon's SRP check refuses bad server parameters: not the user's fault.
            raise LoginError("The server sent invalid 2FA parameters") from None
    raise LoginError(f"The 2FA password was wrong {MAX_TRIES} times", "run the login again")


async def logout(client: TelegramClient) -> bool:
    """End the session on Telegram's side. The caller erases the sealed session either way."""
    try:
        if client.session is None:
            return False
        if not client.is_connected():
            await client.connect()
        return bool(await client.log_out())
    except (errors.RPCError, OSError, ConnectionError) as exc:
        log.warning("telegram logout failed: %s", type(exc).__name__)
        return False
