"""Who is acting: the console and the CLI pass their person to every audited command in one place.

The audit log records an actor for each change. Screens and CLI verbs should not each remember to
pass `by=`; `ActingAs` wraps the command layer (local `Commands` or the attach client) and adds it
to every command whose signature takes `by`, unless the caller named someone else.
"""

from __future__ import annotations

import functools
import getpass
import inspect
from typing import Any

ACTOR_HEADER = "X-SysAlert-Actor"  # how the attach client names the person to the daemon


@functools.cache
def takes_by(command: str) -> bool:
    """Whether the command layer's `command` records an actor (has a `by` parameter)."""
    from engine.commands import Commands

    fn = getattr(Commands, command, None)
    return callable(fn) and "by" in inspect.signature(fn).parameters


def login_name() -> str:
    """This process's user, the actor of CLI and console changes; "operator" when unknown."""
    try:
        return getpass.getuser() or "operator"
    except Exception:  # no passwd entry (containers with an arbitrary uid)
        return "operator"


class ActingAs:
    """The command layer as one person. Everything else is passed through untouched."""

    def __init__(self, commands: Any, by: str) -> None:
        self.__dict__["_commands"] = commands
        self.__dict__["_by"] = by
        # The layer itself, for reads that record no actor (`status`, `target list`): attached,
        # asking whether a command takes `by` would import the whole command layer (a second).
        self.__dict__["plain"] = commands

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._commands, name)
        if not takes_by(name):
            return attr
        by = self._by
        if inspect.iscoroutinefunction(attr):  # callers check this (the console's Telegram login)

            @functools.wraps(attr)
            async def acting_async(*args: Any, **kwargs: Any) -> Any:
                if kwargs.get("by") is None:
                    kwargs["by"] = by
                return await attr(*args, **kwargs)

            return acting_async

        @functools.wraps(attr)
        def acting(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("by") is None:
                kwargs["by"] = by
            return attr(*args, **kwargs)

        return acting

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._commands, name, value)
