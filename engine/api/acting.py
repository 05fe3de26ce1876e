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


# The commands whose signature takes `by` (an audited change). Written out, not read from the
# command layer's signatures: attached, that read imported the whole command layer on the first
# command (1.4 s before the console's first row at 100,000 targets). A test holds it equal to
# the signatures (tests/test_acting.py).
ACTOR_COMMANDS = frozenset(
    {
        "ack_incident",
        "add_api_key",
        "add_benchmark",
        "add_contact",
        "add_rule",
        "add_subscriber",
        "add_target",
        "edit_target",
        "erase_subscriber",
        "import_targets",
        "maintenance_off",
        "maintenance_on",
        "notify_test",
        "pause_target",
        "remove_api_key",
        "remove_benchmark",
        "remove_contact",
        "remove_rule",
        "remove_subscriber",
        "remove_target",
        "remove_window",
        "resolve_incident",
        "set_baseline",
        "set_rule_enabled",
        "set_subscriber_limits",
        "silence_incident",
        "telegram_login",
        "telegram_logout",
    }
)


def takes_by(command: str) -> bool:
    """Whether the command layer's `command` records an actor (has a `by` parameter)."""
    return command in ACTOR_COMMANDS


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
        # The layer itself, for reads that record no actor (`status`, `target list`).
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
