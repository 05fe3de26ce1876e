"""What the dispatcher needs from outside the notify package, declared instead of the Engine.

- `DeliveryHost`: the running engine as the dispatcher sees it (store, settings, clock, events,
  metrics, whether the scheduler drains). The Engine satisfies it structurally.
- `DeliveryTrouble`: how a contact that cannot be reached is reported, given at construction by
  whoever owns delivery incidents (alerting), so notify never imports alerting.
- `TelegramSender`: the one channel that needs engine state (a live Telegram session). The bridge
  registers itself with `Dispatcher.set_telegram_sender`; without one, Telegram rows fail with a
  clear reason (see `Dispatcher.send_direct`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.config.settings import Settings
from engine.core.domain import ContactRecord
from engine.core.events import EventBus
from engine.notify.message import OutgoingMessage, SendOutcome
from engine.store.outbox import OutboxRow
from engine.store.store import Store


class Draining(Protocol):
    """The scheduler while the engine stops: no new sends start once it drains."""

    @property
    def draining(self) -> bool: ...


class DeliveryMetrics(Protocol):
    """The counters the dispatcher keeps: results per (channel, outcome), and the last delivery
    error the status bar shows (with the contact it is about, cleared by its next success)."""

    notifications: dict[tuple[str, str], int]
    last_error: str
    last_error_contact: str | None


class DeliveryHost(Protocol):
    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def scheduler(self) -> Draining: ...
    @property
    def metrics(self) -> DeliveryMetrics: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def clock(self) -> Callable[[], float]: ...


@dataclass(frozen=True)
class DeliveryTrouble:
    """Callbacks for contacts alerts cannot reach (plain functions: run in worker threads).

    - `troubled()`: contacts with an open delivery incident (read once when sending starts);
    - `report(contact, channel, error, incident_id)`: a permanent failure or a row that ran out of
      attempts; the new incident's id, None when none was opened;
    - `clear(contact_id)`: a send to the contact worked again."""

    troubled: Callable[[], set[str]]
    report: Callable[[ContactRecord, str, str, str | None], str | None]
    clear: Callable[[str], object]


class TelegramSender(Protocol):
    async def send(
        self, contact: ContactRecord, msg: OutgoingMessage, row: OutboxRow | None = None
    ) -> SendOutcome:
        """Send one message (an outbox row, or a test without one); never raises for a send
        that failed, it says why in the outcome."""
        ...

    async def after_sent(self, contact: ContactRecord) -> None:
        """A Telegram row to this contact was just marked sent."""
        ...
