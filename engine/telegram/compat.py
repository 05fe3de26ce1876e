"""Telethon names that not every release our pin admits (`telethon>=1.39,<2`) has.

The Telegram-compatible server SysAlert must support speaks Telethon 1.39's layer only, so code
that names something newer must look it up here, with a fallback, rather than as an attribute
(tests/test_telegram_compat.py fails on any other reference the installed Telethon lacks).
"""

from __future__ import annotations

from telethon import errors


def rpc_error(name: str, rpc_message: str, base: type[errors.RPCError]) -> type[errors.RPCError]:
    """Telethon's class for the RPC error `rpc_message`, or on a release that predates it a
    stand-in of the same name that Telethon then raises for that message, so one table keyed by
    class (engine/telegram/failures.py) serves every release.

    `base` is the class Telethon would raise otherwise (ForbiddenError for a 403, ...).
    """
    known = getattr(errors, name, None)
    if isinstance(known, type) and issubclass(known, errors.RPCError):
        return known
    registered = errors.rpc_errors_dict.get(rpc_message)
    if registered is not None:  # a second lookup (or a re-import) gets the same class
        return registered

    def __init__(self: errors.RPCError, request: object) -> None:
        errors.RPCError.__init__(self, request, rpc_message, base.code)

    stand_in = type(name, (base,), {"__init__": __init__, "__module__": __name__})
    errors.rpc_errors_dict[rpc_message] = stand_in
    return stand_in
