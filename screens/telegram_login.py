"""The Telegram login flow in the console: phone, code, then the 2FA password only when asked.

The engine's `telegram_login(prompts)` drives the flow (the same one `sysalert telegram login`
uses); each prompt here is a small dialog awaited on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from engine.core.errors import SysAlertError
from screens.dialogs import Field, FieldsDialog
from screens.fmt import error_sentence

NOT_HERE = (
    "Telegram login is not offered by this engine here: run `sysalert telegram login` "
    "in a shell on the machine that runs the daemon."
)


class LoginCancelled(Exception):
    """The operator closed a login dialog."""


def start_login(screen: Any, done: Callable[[], None]) -> None:
    fn = getattr(screen.commands, "telegram_login", None)
    if fn is None or not asyncio.iscoroutinefunction(fn):
        screen.notify(NOT_HERE, severity="warning", timeout=8)
        return
    screen.run_worker(
        _login(screen, fn, done), group="telegram-login", exclusive=True, exit_on_error=False
    )


async def _ask(
    screen: Any, title: str, label: str, placeholder: str, password: bool = False
) -> str:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[dict[str, str] | None] = loop.create_future()

    def answered(values: dict[str, str] | None) -> None:
        if not answer.done():
            answer.set_result(values)

    dialog = FieldsDialog(
        title, [Field("value", label, "", placeholder, required=True, password=password)]
    )
    screen.app.push_screen(dialog, answered)
    values = await answer
    if values is None:
        raise LoginCancelled
    return values["value"]


async def _login(screen: Any, fn: Any, done: Callable[[], None]) -> None:
    from engine.telegram.login import LoginPrompts

    async def say(text: str) -> None:
        screen.notify(text, severity="warning")

    prompts = LoginPrompts(
        phone=lambda: _ask(screen, "Telegram login (1/3)", "Phone number:", "+44 7700 900123"),
        code=lambda: _ask(
            screen, "Telegram login (2/3)", "Login code:", "the code Telegram sent you"
        ),
        password=lambda: _ask(screen, "Telegram login (3/3)", "2FA password:", "", password=True),
        notify=say,
    )
    try:
        result = await fn(prompts, by=screen.ctx.operator)
    except LoginCancelled:
        screen.notify("Telegram login cancelled.")
        return
    except SysAlertError as exc:
        screen.notify(error_sentence(exc), severity="error", timeout=8)
        return
    account = result.get("account")
    screen.notify(f"Telegram: logged in{f' as {account}' if account else ''}.")
    done()
