"""Several engines on one store: which engines run, and where a target is probed from."""

from __future__ import annotations

from engine.commands.base import CommandBase
from engine.commands.ports import NullHooks
from engine.core.limits import SERIES_SECONDS, Ref, check_number
from engine.core.results import EngineInfo, LocationResult
from engine.store import cluster as cstore
from engine.store.cluster_live import announce
from engine.store.store import Store
from engine.store.uptimes import location_uptimes


class SharedStoreHooks(NullHooks):
    """No engine in this process, but engines elsewhere share the (PostgreSQL) store: a change
    made here (a CLI on the store) is announced to them over NOTIFY, as an engine would."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def target_changed(self, target_id: str) -> None:
        announce(self.store, "target_changed", target_id)

    def target_removed(self, target_id: str) -> None:
        announce(self.store, "target_removed", target_id)

    def incidents_changed(self, incident_id: str) -> None:
        announce(self.store, "incidents_changed", incident_id)

    def maintenance_changed(self) -> None:
        announce(self.store, "maintenance_changed")


class ClusterCommands(CommandBase):
    def list_engines(self) -> list[EngineInfo]:
        """Every engine that shares this store: id, location, targets held, last seen, alive,
        leader, and which one answers (`this`). A SQLite store has one engine and keeps no list
        (empty)."""
        if self.store.sqlite:
            return []
        me = self._this_engine()
        return [
            EngineInfo(**row, this=row["id"] == me)
            for row in cstore.list_engines(self.store, self.settings.engine.lease)
        ]

    def target_locations(self, ref: Ref) -> list[LocationResult]:
        """Each of a target's locations with its latest result, latency, the engine probing it
        there (`no-engine` when none is alive), how many engines are alive there and its own
        `uptime` over 24 h (percent of good checks from there, None before any); empty for a
        target without locations (and on SQLite, whose one engine probes every target)."""
        rec = self.target_record(ref)
        if not rec.locations or self.store.sqlite:
            return []
        alive: dict[str, int] = {}
        for e in cstore.list_engines(self.store, self.settings.engine.lease):
            if e["alive"]:
                alive[e["location"]] = alive.get(e["location"], 0) + 1
        ups = location_uptimes(self.store, rec.id, 86400)
        fields = LocationResult.model_fields
        return [
            LocationResult(
                engines_alive=alive.get(leg["location"], 0),
                uptime=None if leg["location"] not in ups else ups[leg["location"]] * 100,
                **{
                    k: v
                    for k, v in leg.items()
                    if k in fields and k not in ("engines_alive", "uptime")
                },
            )
            for leg in cstore.location_detail(self.store, rec.id, rec.locations)
        ]

    def location_uptimes(self, ref: Ref, seconds: float | str = 86400) -> dict[str, float | None]:
        """location -> share of good checks (0 to 1, like `uptimes`) from there over the last
        `seconds` (default 24 h), for each of a target's locations (None: no check there in that
        time); the target's own uptime merges them all. Empty for a target without locations or
        on SQLite."""
        rec = self.target_record(ref)
        if not rec.locations or self.store.sqlite:
            return {}
        s = check_number(seconds, "seconds", SERIES_SECONDS)
        ups = location_uptimes(self.store, rec.id, s)
        return {loc: ups.get(loc) for loc in rec.locations}

    def _this_engine(self) -> str | None:
        """The id of the engine running in this process (None for a CLI on the store alone)."""
        cluster = self.hooks.stats().get("cluster")
        return cluster.get("id") if isinstance(cluster, dict) else None
