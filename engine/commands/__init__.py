"""The one command layer. The console, the CLI, the HTTP API and Telegram call these methods.

`Commands` works on the store directly; when an engine runs, it passes itself as `hooks`
(engine.commands.ports.EngineHooks) so changes reach the scheduler and state machine at once. A remote client (attach mode) offers the same methods
over the API.
"""

from __future__ import annotations

from typing import Any

from engine.commands.alerts import AlertCommands
from engine.commands.apikeys import ApiKeyCommands
from engine.commands.benchmarks import BenchmarkCommands
from engine.commands.checking import CheckCommands
from engine.commands.cluster import ClusterCommands, SharedStoreHooks
from engine.commands.heartbeats import HeartbeatCommands
from engine.commands.list_pages import ListPaging
from engine.commands.ports import (
    NULL_HOOKS,
    EngineHooks,
    NoTelegramAccount,
    NullHooks,
    TelegramAccountPort,
)
from engine.commands.queries import QueryCommands
from engine.commands.report import ReportCommands
from engine.commands.rules import RuleCommands
from engine.commands.seeding import SeedCommands
from engine.commands.subscribers import SubscriberCommands
from engine.commands.targets_io import TargetIOCommands
from engine.commands.telegram import TelegramCommands
from engine.config.settings import Settings
from engine.store.store import Store


class Commands(
    TargetIOCommands,
    SeedCommands,
    HeartbeatCommands,
    CheckCommands,
    AlertCommands,
    QueryCommands,
    ListPaging,
    ApiKeyCommands,
    BenchmarkCommands,
    TelegramCommands,
    SubscriberCommands,
    RuleCommands,
    ReportCommands,
    ClusterCommands,
):
    """Every action, written once."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        hooks: EngineHooks | None = None,
        telegram: TelegramAccountPort | None = None,
    ) -> None:
        """`hooks`: the running engine; None gives the null engine (changes reach the store only,
        which the next engine start loads). `telegram`: the Telegram side of login, logout and
        status (engine.telegram.account.TelegramAccount); None refuses those in one line."""
        self.store = store
        self.settings = settings
        if hooks is None:  # on a shared (PostgreSQL) store the running engines hear of changes
            hooks = NULL_HOOKS if store.sqlite else SharedStoreHooks(store)
        self.hooks = hooks
        self.telegram_account = telegram if telegram is not None else NoTelegramAccount()

    def adopt_keys(self) -> dict[str, Any]:
        """`sysalert rotate-keys` wrote a new key ring: use it from now on (a running engine
        re-keys its fingerprint indexes), so nothing is sealed under the old key while the rows
        are re-sealed. Answers the current key id, which the rotation checks."""
        self.store.refresh_keys()
        return {"key_id": self.store.keys.current.key_id.hex()}


__all__ = ["Commands", "EngineHooks", "NullHooks", "TelegramAccountPort"]
