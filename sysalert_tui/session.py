"""Pick how a CLI call reaches the engine: the running daemon's API if one answers, else the store."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.config.settings import Settings


@contextmanager
def open_commands(args: argparse.Namespace, prefer_daemon: bool = True) -> Iterator[Any]:
    """Yield an object with the command layer's methods (local Commands or the API client), acting
    as this process's user so the audit log says who made each change."""
    from engine.api.acting import ActingAs, login_name
    from sysalert_tui.cli import load_settings

    settings: Settings = load_settings(args)
    if prefer_daemon:
        remote = _remote(args, settings)
        if remote is not None:
            try:
                yield ActingAs(remote, login_name())
            finally:
                remote.close()
            return
    from engine.commands import Commands
    from engine.runtime.bootstrap import open_store
    from engine.telegram.account import TelegramAccount

    store = open_store(settings)
    try:
        yield ActingAs(Commands(store, settings, telegram=TelegramAccount()), login_name())
    finally:
        store.close()


def _remote(args: argparse.Namespace, settings: Settings) -> Any | None:
    try:
        from engine.api.client import connect_if_running
    except ImportError:
        return None
    return connect_if_running(
        settings, getattr(args, "connect", None), getattr(args, "api_key", None)
    )
