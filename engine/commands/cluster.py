"""Several engines on one store: which engines run, and where a target is probed from."""

from __future__ import annotations

from typing import Any

from engine.commands.base import CommandBase
from engine.core.limits import Ref
from engine.store import cluster as cstore


class ClusterCommands(CommandBase):
    def list_engines(self) -> list[dict[str, Any]]:
        """Every engine that shares this store: id, location, targets held, last seen, alive,
        leader. A SQLite store has one engine and keeps no list (empty)."""
        if self.store.sqlite:
            return []
        return cstore.list_engines(self.store, self.settings.engine.lease)

    def target_locations(self, ref: Ref) -> list[dict[str, Any]]:
        """Each of a target's locations with its latest result, latency and the engine probing
        it there (`no-engine` when none is alive); empty for a target without locations."""
        rec = self.get_target(ref)
        if not rec.locations or self.store.sqlite:
            return []
        return cstore.location_detail(self.store, rec.id, rec.locations)
