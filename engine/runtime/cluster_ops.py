"""What an engine of a shared store does for the others (a mixin of ClusterMember): a "check
now" forwarded to the holders of a target, a ping taken here for a heartbeat held elsewhere, and
a key rotation run on another host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.store import cluster as cstore
from engine.store import cluster_live as clive
from engine.store import key_handoff

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.store.store import Store


class ClusterOps:
    engine: Engine
    store: Store
    id: str
    channel: str
    _pings: list[list[Any]]
    _key_said: str

    def holds(self, target_id: str) -> bool:
        raise NotImplementedError

    def held_ids(self) -> set[str]:
        raise NotImplementedError

    def forward_ping(self, target_id: str, ts: float, code: str) -> None:
        """A ping committed here for a heartbeat another engine holds (event loop): sent with the
        next relay round, in order, as id, time and ping code (never the token)."""
        self._pings.append([target_id, ts, code])

    def check_now(self, target_id: str) -> dict[str, Any]:
        """A "check now" (worker thread): whether this engine holds the target here, and the
        engines in other locations (or this one) asked over NOTIFY to check it at once; the
        locations nobody holds now are named, so the caller is told the truth."""
        legs = cstore.lease_holders(self.store, target_id)
        here = self.holds(target_id)
        asked = [{"engine": h, "location": where} for _, h, where in legs if h and h != self.id]
        if asked:
            clive.ask_check(self.store, self.channel, self.id, target_id)
        unheld = [leg for leg, h, _ in legs if h is None]
        return {"here": here, "asked": asked, "unheld": unheld}

    def _check_keys(self) -> None:
        """A rotation on another host (`key_current` names a key this ring lacks): adopt the
        ring from its hand-off (Store.refresh_keys), then say which key this engine holds."""
        with self.store.engine.begin() as conn:
            want = key_handoff.current(conn)
        if want and want not in {k.hex() for k in self.store.keys.key_ids}:
            self.store.refresh_keys()
        mine = self.store.keys.current.key_id.hex()
        if mine != self._key_said:
            key_handoff.report(self.store, self.id)
            self._key_said = mine

    def _fold_ping(self, target_id: str, ts: float, code: str) -> None:
        eng = self.engine
        rec = eng.targets.get(str(target_id))
        if rec is None or rec.kind != "heartbeat" or not self.holds(rec.id):
            return
        changes = eng.alerting.heartbeats.fold_remote(rec, float(ts), str(code), eng.clock())
        if changes:
            eng.replayed(changes)

    def _replay_heartbeats(self) -> None:
        """After the listener was lost: the held heartbeats' committed pings, read from the store
        once (rare; the usual way is the notification)."""
        eng = self.engine
        recs = [r for t in self.held_ids() if (r := eng.targets.get(t)) and r.kind == "heartbeat"]
        if recs:
            eng.replayed(eng.alerting.heartbeats.replay(recs, eng.clock()))
