"""The one command layer. The console, the CLI, the HTTP API and Telegram call these methods.

`Commands` works on the store directly; when an engine runs, it passes itself as `hooks` so changes
reach the scheduler and state machine at once. A remote client (attach mode) offers the same methods
over the API.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.commands.alerts import AlertCommands
from engine.commands.apikeys import ApiKeyCommands
from engine.commands.benchmarks import BenchmarkCommands
from engine.commands.cluster import ClusterCommands
from engine.commands.queries import QueryCommands
from engine.commands.rules import RuleCommands
from engine.commands.subscribers import SubscriberCommands
from engine.commands.targets import TargetCommands
from engine.commands.telegram import TelegramCommands
from engine.config.settings import Settings
from engine.store.store import Store


class EngineHooks(Protocol):
    """What an embedded engine wants to hear about. Called from any thread."""

    def target_changed(self, target_id: str) -> None: ...
    def target_removed(self, target_id: str) -> None: ...
    def check_now(self, target_id: str) -> None: ...
    def incidents_changed(self, incident_id: str) -> None: ...
    def maintenance_changed(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


class Commands(
    TargetCommands,
    AlertCommands,
    QueryCommands,
    ApiKeyCommands,
    BenchmarkCommands,
    TelegramCommands,
    SubscriberCommands,
    RuleCommands,
    ClusterCommands,
):
    """Every action, written once."""

    def __init__(self, store: Store, settings: Settings, hooks: EngineHooks | None = None) -> None:
        self.store = store
        self.settings = settings
        self.hooks = hooks

    def adopt_keys(self) -> dict[str, Any]:
        """`sysalert rotate-keys` wrote a new key ring: use it from now on (a running engine
        re-keys its fingerprint indexes), so nothing is sealed under the old key while the rows
        are re-sealed. Answers the current key id, which the rotation checks."""
        self.store.refresh_keys()
        return {"key_id": self.store.keys.current.key_id.hex()}


__all__ = ["Commands", "EngineHooks"]
