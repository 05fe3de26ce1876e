"""What the command layer uses from a running engine, declared (EngineHooks), and the null engine
the commands get when none runs (NullHooks), so no command asks whether there is an engine.

The Engine satisfies EngineHooks structurally (engine.runtime is above this layer and is never
imported here). Every member is called from any thread unless its docstring says otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.core.events import EventBus
from engine.heartbeats.heartbeat import HeartbeatState
from engine.store.store import Store


class RulesView(Protocol):
    """The running rule engine: a resolved incident's level is forgotten, a changed rule reloads."""

    def forget(self, dedup_key: str) -> None: ...
    def reload(self) -> None: ...


class HeartbeatsView(Protocol):
    """The live heartbeat states, by target id (the store's copy lags by seconds)."""

    @property
    def states(self) -> Mapping[str, HeartbeatState]: ...


class AlertingView(Protocol):
    @property
    def rules(self) -> RulesView: ...
    @property
    def heartbeats(self) -> HeartbeatsView: ...


class BenchmarksView(Protocol):
    def wake(self) -> None: ...
    async def run_now(self, bench_id: str) -> dict[str, Any]: ...


class TelegramView(Protocol):
    """The engine's Telegram bridge: its health (None: no bridge) and a session change."""

    @property
    def healthy(self) -> bool: ...
    @property
    def health_text(self) -> str | None: ...
    def session_changed(self) -> None: ...


class EngineHooks(Protocol):
    """Everything the commands use from an embedded engine; Engine implements it."""

    @property
    def running(self) -> bool: ...
    @property
    def ping_listener(self) -> str | None: ...
    @property
    def targets(self) -> Mapping[str, TargetRecord]: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...
    @property
    def alerting(self) -> AlertingView: ...
    @property
    def benchmarks(self) -> BenchmarksView: ...
    @property
    def telegram(self) -> TelegramView: ...
    @property
    def events(self) -> EventBus | None: ...  # state, maintenance, target changes (paging)
    @property
    def last_values(self) -> Mapping[str, float]: ...  # a target's last measured value

    def snapshot(self) -> list[TargetRecord]: ...
    def display_state(self, rec: TargetRecord) -> str: ...
    def target_changed(self, target_id: str) -> None: ...
    def targets_changed(self, recs: list[TargetRecord]) -> None: ...  # as written, in one go
    def target_removed(self, target_id: str) -> None: ...
    def check_now(self, target_id: str) -> dict[str, Any] | None: ...  # see Engine.check_now
    def incidents_changed(self, incident_id: str) -> None: ...
    def maintenance_changed(self) -> None: ...
    def probes_here(self, target_id: str) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    async def committed(self) -> None: ...
    async def send_to_contact(self, contact: Any, msg: Any) -> Any: ...


class TelegramAccountPort(Protocol):
    """What the Telegram commands need from the Telegram side: engine.telegram.account.

    Stateless: each call names the store and settings it works on. Answers are plain dicts
    (`logged_in`, `account`, `since` / `already` / `was_logged_in`, `ended_at_telegram`)."""

    def make_client(self, settings: Settings, session: str | None) -> Any: ...
    def status(self, store: Store) -> dict[str, Any]: ...
    async def login(self, store: Store, settings: Settings, prompts: Any) -> dict[str, Any]: ...
    async def logout(
        self, store: Store, settings: Settings, erased: Callable[[], None]
    ) -> dict[str, Any]: ...


class NoTelegramAccount:
    """A command layer built without the Telegram side (tests, tools): says so in one line."""

    def _refuse(self) -> BadInput:
        return BadInput(
            "this command layer was built without Telegram support",
            "run `sysalert telegram ...` from the sysalert command",
        )

    def make_client(self, settings: Settings, session: str | None) -> Any:
        raise self._refuse()

    def status(self, store: Store) -> dict[str, Any]:
        raise self._refuse()

    async def login(self, store: Store, settings: Settings, prompts: Any) -> dict[str, Any]:
        raise self._refuse()

    async def logout(
        self, store: Store, settings: Settings, erased: Callable[[], None]
    ) -> dict[str, Any]:
        raise self._refuse()


# ---- the null engine ----------------------------------------------------------------------------
class _NullRules:
    def forget(self, dedup_key: str) -> None:
        """No rule engine runs: the next engine start reads the resolved incident from the store."""

    def reload(self) -> None:
        """No rule engine runs: the next engine start loads the stored rules."""


class _NullHeartbeats:
    states: Mapping[str, HeartbeatState] = {}


class _NullAlerting:
    rules: RulesView = _NullRules()
    heartbeats: HeartbeatsView = _NullHeartbeats()


class _NullBenchmarks:
    def wake(self) -> None:
        """No runner: the next engine start schedules from the store."""

    async def run_now(self, bench_id: str) -> dict[str, Any]:
        raise BadInput("no engine is running", "the command measures here instead")


class _NullTelegram:
    healthy = False
    health_text: str | None = None

    def session_changed(self) -> None:
        """No bridge: the next engine start reads the session from the store."""


class NullHooks:
    """No engine runs: changes are in the store only, which the next engine start loads."""

    running = False
    ping_listener: str | None = None
    targets: Mapping[str, TargetRecord] = {}
    loop: asyncio.AbstractEventLoop | None = None
    alerting: AlertingView = _NullAlerting()
    benchmarks: BenchmarksView = _NullBenchmarks()
    telegram: TelegramView = _NullTelegram()
    events: EventBus | None = None
    last_values: Mapping[str, float] = {}

    @property
    def clock(self) -> Callable[[], float]:
        import time

        return time.time

    def snapshot(self) -> list[TargetRecord]:
        return []

    def display_state(self, rec: TargetRecord) -> str:
        return rec.state

    def target_changed(self, target_id: str) -> None:
        pass

    def targets_changed(self, recs: list[TargetRecord]) -> None:
        """A batch written at once (import): by default each one as `target_changed` hears it."""
        for rec in recs:
            self.target_changed(rec.id)

    def target_removed(self, target_id: str) -> None:
        pass

    def check_now(self, target_id: str) -> dict[str, Any] | None:
        raise BadInput(
            "no engine is running to check now", "use `sysalert check NAME` for a one-off check"
        )

    def incidents_changed(self, incident_id: str) -> None:
        pass

    def maintenance_changed(self) -> None:
        pass

    def probes_here(self, target_id: str) -> bool:
        return False

    def stats(self) -> dict[str, Any]:
        return {}

    async def committed(self) -> None:
        pass

    async def send_to_contact(self, contact: Any, msg: Any) -> Any:
        raise BadInput("no engine is running", "the command sends directly instead")


NULL_HOOKS: EngineHooks = NullHooks()
