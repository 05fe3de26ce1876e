"""What the heartbeat runner uses from the engine: a small port, so heartbeats never import the
Engine class (the Engine satisfies it structurally)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.checks.probes.base import ProbeResult
    from engine.core.domain import TargetRecord
    from engine.store.history import ResultWriter
    from engine.store.store import Store


class PingCounts(Protocol):
    @property
    def pings(self) -> dict[str, int]: ...


class HeartbeatHost(Protocol):
    """Targets, the result writer and the state machine of the engine heartbeats run in."""

    @property
    def store(self) -> Store: ...
    @property
    def targets(self) -> dict[str, TargetRecord]: ...
    @property
    def dirty(self) -> set[str]: ...
    @property
    def metrics(self) -> PingCounts: ...
    @property
    def writer(self) -> ResultWriter: ...

    def clock(self) -> float: ...

    async def committed(self) -> None: ...

    def process_state(
        self, rec: TargetRecord, new: str, res: ProbeResult, now: float, ping: str | None = None
    ) -> None: ...

    def probes_here(self, target_id: str) -> bool:
        """Whether this engine holds the target (several engines share a PostgreSQL store)."""
        ...

    def ping_elsewhere(self, rec: TargetRecord, res: ProbeResult, now: float, code: str) -> None:
        """A ping for a heartbeat another engine holds: tell it once the row is committed."""
        ...
