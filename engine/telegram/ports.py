"""What the Telegram bridge and its chat replies use of the running engine, declared instead of the
Engine class (which the engine satisfies structurally).

- `TelegramHost`: store, settings, events, the command layer, the live target view (records,
  last values, displayed state) and the alerting side below;
- `BridgeAlerting`: the local incidents the bridge opens and resolves (a broken session), and the
  dispatcher it sends through;
- `DeliverySeam`: the dispatcher as the bridge sees it: wake it, and register as its Telegram
  sender (engine/notify/ports.py `TelegramSender`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from engine.commands import Commands
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.events import EventBus
from engine.notify.ports import TelegramSender
from engine.store.store import Store


class DeliverySeam(Protocol):
    def wake(self) -> None: ...
    def set_telegram_sender(self, sender: TelegramSender | None) -> None: ...


class BridgeAlerting(Protocol):
    @property
    def dispatcher(self) -> DeliverySeam: ...
    def open_local_incident(self, dedup_key: str, kind: str, summary: str) -> str | None: ...
    def resolve_local_incident(self, dedup_key: str) -> bool: ...


class TelegramHost(Protocol):
    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def commands(self) -> Commands: ...
    @property
    def alerting(self) -> BridgeAlerting: ...
    @property
    def targets(self) -> Mapping[str, TargetRecord]:
        """The live records by id (read from worker threads one `get` at a time)."""
        ...

    @property
    def last_values(self) -> Mapping[str, float]:
        """The last metric value of system targets, by id."""
        ...

    def display_state(self, rec: TargetRecord) -> str:
        """The state the console shows (maintenance and paused included)."""
        ...

    def snapshot(self) -> list[TargetRecord]:
        """Every target record, copied safely from any thread."""
        ...
