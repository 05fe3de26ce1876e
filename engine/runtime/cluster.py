"""This engine as one of several on a shared PostgreSQL store (DESIGN section 9).

It probes only the targets whose lease it holds (engine.store.cluster), hands excess leases back
when another engine joins, stops probing everything at once when it cannot renew its leases in
time (another engine may take them), leads the store-wide duties when it holds the leader lock,
and relays live events to and from the other engines over LISTEN/NOTIFY. SQLite stores never
build one: one engine per SQLite store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from engine.checks.probes.base import ProbeResult
from engine.core.domain import TargetRecord
from engine.core.events import Event, StateEvent, event_from_dict
from engine.core.locations import ANY
from engine.core.state import Transition, apply_result
from engine.runtime.cluster_ops import ClusterOps
from engine.store import cluster as cstore
from engine.store import cluster_live as clive

if TYPE_CHECKING:
    from engine.config.settings import Settings
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)
SYNC_EVERY = 5  # rounds between two lease-row syncs (a target change syncs at once)
REPORT_PERIOD = 0.25  # seconds between two writes of per-location results
RECOMPUTE_EVERY = 5.0  # a location target's combined state is decided at least this often


def engine_id_for(settings: Settings) -> str:
    """[engine] id, else a stable id from this host and data directory (the same data directory
    copied to another host or path is another engine). No host name in plaintext."""
    if settings.engine.id:
        return settings.engine.id
    seed = f"{socket.gethostname()}|{os.path.realpath(settings.data_dir)}"
    return "e-" + hashlib.sha256(seed.encode()).hexdigest()[:10]


class ClusterMember(ClusterOps):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.id = engine_id_for(engine.settings)
        self.location = engine.settings.location
        self.lease_s = engine.settings.engine.lease
        self.round_s = min(1.0, self.lease_s / 5)
        self.held: set[tuple[str, str]] = set()
        self.leader = False
        self.error: str | None = None  # why this engine cannot take part now, None when fine
        self.live: dict[str, int] = {}
        self._leader_lock = clive.LeaderLock(self.store)
        self._last_ok = 0.0  # monotonic time the last round began that succeeded
        self._rounds = 0
        self._sync_due = True
        self._kick = anyio.Event()
        self._shadows: dict[str, TargetRecord] = {}  # location targets: this location's view
        self._reports: dict[str, dict[str, Any]] = {}
        self._counts: dict[tuple[str, str, int], list[int]] = {}  # per-location uptime
        self._recompute: set[str] = set()
        self._decided: dict[str, float] = {}
        self._leader_scopes: set[anyio.CancelScope] = set()
        self._remote: dict[int, Event] = {}
        self._quiet: set[str] = set()
        self.channel = ""
        self._listener: clive.Listener | None = None
        self._keys_due = True  # check for a rotation on another host at the next round
        self._pings: list[list[Any]] = []  # pings taken here for heartbeats held elsewhere
        self._relayed_in = False
        self._key_said = ""

    # ---- what the engine asks ---------------------------------------------------------------
    def holds(self, target_id: str) -> bool:
        rec = self.engine.targets.get(target_id)
        loc = self.location if rec is not None and rec.locations else ANY
        return (target_id, loc) in self.held

    def held_ids(self) -> set[str]:
        return {t for t, _ in self.held}

    def kick(self) -> None:
        """A target changed here: sync lease rows and claim at once, not at the next round."""
        self._sync_due = True
        self._kick.set()

    # ---- start and stop (worker thread) -----------------------------------------------------
    def first_round(self) -> None:
        """Before the scheduler starts: the leases this engine begins with."""
        self.channel = clive.channel_of(self.store)
        cstore.sync_leases(self.store)
        r, _ = self._round()
        self.held = r.held

    def leave(self) -> None:
        self._leader_lock.release()
        if self._listener is not None:
            self._listener.close()
        try:
            cstore.leave(self.store, self.id)
        except Exception as exc:  # the leases expire by themselves
            log.warning("cluster: could not hand the leases back: %s", type(exc).__name__)

    def _round(self) -> tuple[cstore.Round, dict[str, dict[str, Any]]]:
        """One round (worker thread), with the stored state of the targets it gained."""
        began = time.monotonic()
        if self._sync_due or self._rounds % SYNC_EVERY == 0:
            self._sync_due = False
            cstore.sync_leases(self.store)
        if self._keys_due or self._rounds % SYNC_EVERY == 0:
            self._keys_due = False
            try:  # a key file that cannot be written must not cost this engine its leases
                self._check_keys()
            except Exception as exc:
                log.error(
                    "cluster: adopting a key rotated elsewhere failed: %s", type(exc).__name__
                )
        self._rounds += 1
        try:
            self.leader = self._leader_lock.try_take()
        except Exception:
            self.leader = False
        r = cstore.lease_round(
            self.store, self.id, self.location, self.lease_s, self.engine.started_at, self.leader
        )
        self._last_ok = began
        self.live = r.live
        gained = [t for t, loc in r.held - self.held if loc == ANY]
        state = cstore.runtime_of(self.store, gained)
        for tid, due in r.due.items():  # handed back by another engine: its next due time
            state.setdefault(tid, {})["_due"] = due
        return r, state

    # ---- the loops (supervised) --------------------------------------------------------------
    async def lease_loop(self) -> None:
        while True:
            with anyio.move_on_after(self.round_s):
                await self._kick.wait()
            self._kick = anyio.Event()
            try:
                r, state = await anyio.to_thread.run_sync(self._round)
            except Exception as exc:
                from engine.store.db import describe_error

                self.error = f"lease round failed: {describe_error(exc)}"
                if time.monotonic() - self._last_ok > self.lease_s - 2 * self.round_s:
                    self._adopt(set(), {})  # another engine may take them now: stop probing
                    self.leader = False
                log.warning("cluster: %s", self.error)
                continue
            self.error = None
            self._adopt(r.held, state)
            if r.excess:
                await self._hand_back(r.excess)
            self._lead(self.leader)

    def _adopt(self, held: set[tuple[str, str]], state: dict[str, dict[str, Any]]) -> None:
        """Schedule the leases gained, going on from the state the previous holder stored;
        unschedule the ones lost (event loop)."""
        gained, lost = held - self.held, self.held - held
        self.held = held
        eng = self.engine
        for tid, _ in lost:
            eng.scheduler.remove(tid)
            self._shadows.pop(tid, None)
        mono, wall = eng.scheduler.clock(), time.time()
        for tid, _ in gained:
            rec = eng.targets.get(tid)
            if rec is None:  # added on another engine, not heard of yet: loaded, then scheduled
                eng.target_changed(tid)
                continue
            got = dict(state.get(tid, {}))
            due = got.pop("_due", 0.0)
            for k, v in got.items():
                setattr(rec, k, v)
            # Handed over: from the due time the last holder had; else (expired lease, a new
            # target): at the usual spot in its interval.
            first = mono + max(0.0, due - wall) if 0 < due <= wall + rec.interval_s else None
            eng.schedule(rec, first)

    async def _hand_back(self, excess: dict[str, int]) -> None:
        """Another engine joined: give back what is over the fair share, unscheduled first."""
        eng = self.engine
        mono, wall = eng.scheduler.clock(), time.time()
        dues = eng.scheduler.dues()
        out: list[tuple[str, str, float]] = []
        for pool, n in excess.items():
            mine = sorted(t for t, loc in self.held if loc == pool)[:n]
            for tid in mine:
                eng.scheduler.remove(tid)
                self.held.discard((tid, pool))
                self._shadows.pop(tid, None)
                out.append((tid, pool, wall + max(0.0, dues.get(tid, mono) - mono)))
        await anyio.to_thread.run_sync(cstore.release, self.store, self.id, out)

    # ---- leadership -------------------------------------------------------------------------
    def _lead(self, leader: bool) -> None:
        if not leader and self._leader_scopes:
            log.info("cluster: no longer the leader")
            for scope in self._leader_scopes:
                scope.cancel()

    def leader_only(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Run a store-wide duty (escalation, reminders, retention, ...) only while leading."""

        async def run() -> None:
            while True:
                while not self.leader:
                    await anyio.sleep(self.round_s)
                with anyio.CancelScope() as scope:
                    self._leader_scopes.add(scope)
                    try:
                        await fn()
                    finally:
                        self._leader_scopes.discard(scope)

        return run

    # ---- multi-location targets ---------------------------------------------------------------
    def location_result(self, rec: TargetRecord, res: ProbeResult, now: float) -> None:
        """A result for a target with locations: this location's own view moves by the usual
        thresholds; the combined state is decided in the store (report_loop)."""
        shadow = self._shadows.get(rec.id)
        if shadow is None:
            shadow = dataclasses.replace(rec, state="unknown", fail_streak=0, ok_streak=0)
            self._shadows[rec.id] = shadow
        eng = self.engine.settings.engine
        tr = apply_result(
            shadow,
            res,
            now,
            rec.failure_threshold or eng.failure_threshold,
            rec.recovery_threshold or eng.recovery_threshold,
            None,
        )
        key = (rec.id, self.location, int(now // 3600))
        got = self._counts.get(key)
        if got is None:
            got = self._counts[key] = [0, 0]
        got[0] += 1
        got[1] += 1 if res.ok else 0
        self._reports[rec.id] = {
            "t": rec.id,
            "l": self.location,
            "state": shadow.state,
            "latency_ms": res.latency_ms,
            "error_class": res.error_class,
            "checked_at": now,
        }
        if (tr is not None and tr.old != tr.new) or now - self._decided.get(rec.id, 0) > (
            RECOMPUTE_EVERY
        ):
            self._recompute.add(rec.id)
            self._decided[rec.id] = now

    async def report_loop(self) -> None:
        while True:
            await anyio.sleep(REPORT_PERIOD)
            if not self._reports and not self._recompute:
                continue
            reports, self._reports = list(self._reports.values()), {}
            recompute, self._recompute = self._recompute, set()
            counts, self._counts = self._counts, {}
            try:
                changes, states = await anyio.to_thread.run_sync(
                    cstore.report_locations,
                    self.store,
                    self.id,
                    reports,
                    recompute,
                    self.lease_s,
                    counts,
                )
            except Exception:
                self._recompute |= recompute
                for key, (n, ok) in counts.items():  # counted again at the next report
                    got = self._counts.setdefault(key, [0, 0])
                    got[0] += n
                    got[1] += ok
                raise
            for ch in changes:
                self._changed(ch)
            targets = self.engine.targets
            for tid, state in states.items():  # missed another engine's change: catch up
                rec = targets.get(tid)
                if rec is not None and rec.state != state:
                    rec.state = state

    def _changed(self, ch: cstore.Change) -> None:
        eng = self.engine
        rec = eng.targets.get(ch.target_id)
        if rec is None:
            return
        now = eng.clock()
        rec.state, rec.state_since = ch.new, now
        detail = ch.verdict.detail(ch.locations)
        res = (
            ProbeResult.failure(ch.error_class or "error", detail)
            if ch.new in ("down", "partial")
            else ProbeResult(True, None, None, None, detail)
        )
        eng.events.publish(StateEvent(now, rec.id, ch.old, ch.new, res.error_class))
        eng.alerting.on_transition(rec, Transition(ch.old, ch.new), res, now)

    # ---- live events between engines ----------------------------------------------------------
    async def relay_out(self) -> None:
        """Publish this engine's events to the others (results coalesced per target)."""
        sub = self.engine.events.subscribe(maxlen=50_000)
        try:
            while True:
                batch = await sub.get_batch(5000)
                pings, self._pings = self._pings, []
                payloads = [json.dumps({"e": self.id, "ping": p}) for p in pings]
                results: dict[str, dict[str, Any]] = {}
                for ev in batch:
                    if self._remote.pop(id(ev), None) is ev:
                        continue  # came from another engine
                    d = ev.to_dict()
                    if d["type"] == "targets" and d.get("target_id") in self._quiet:
                        self._quiet.discard(d["target_id"])
                        continue
                    if d["type"] == "result":
                        results[d["target_id"]] = d
                        continue
                    payloads.append(json.dumps({"e": self.id, "v": d}))
                payloads += [json.dumps({"e": self.id, "v": d}) for d in results.values()]
                if payloads:
                    await anyio.to_thread.run_sync(clive.notify, self.store, self.channel, payloads)
                await anyio.sleep(0.2)  # coalesce: at most five notify rounds a second
        finally:
            sub.close()

    async def relay_in(self) -> None:
        """Events of the other engines, published here as if local (consoles attached here)."""
        self._listener = clive.Listener(self.store, self.channel)
        if self._relayed_in:  # listening again: pings told meanwhile may be lost, read them
            self._replay_heartbeats()
        self._relayed_in = True
        try:
            while True:
                payloads = await anyio.to_thread.run_sync(self._listener.wait, 1.0)
                for p in payloads:
                    self._receive(p)
        finally:
            self._listener.close()

    def _receive(self, payload: str) -> None:
        try:
            msg = json.loads(payload)
            if msg.get("e") == self.id:
                return
            if "keys" in msg:  # `rotate-keys` ran somewhere: look for its hand-off now
                self._keys_due = True
                self.kick()
                return
            if "ping" in msg:  # a ping another engine committed for a heartbeat held here
                self._fold_ping(*msg["ping"])
                return
            if "check" in msg:  # another engine's "check now" for a target held here
                if self.holds(str(msg["check"])):
                    self.engine.scheduler.check_now(str(msg["check"]))
                return
            ev = event_from_dict(msg["v"])
        except Exception:
            log.warning("cluster: an event from another engine could not be read")
            return
        eng = self.engine
        tid = getattr(ev, "target_id", None)
        if ev.type == "targets" and tid:
            self._quiet.add(tid)
            if getattr(ev, "removed", False):
                eng.target_removed(tid)
            else:
                eng.target_changed(tid)
            self.kick()
            return
        if ev.type == "maintenance":
            eng.maintenance_changed()  # a window changed elsewhere: this engine's index too
        rec = eng.targets.get(tid) if tid else None
        if rec is not None and ev.type == "state" and (rec.locations or not self.holds(rec.id)):
            # The combined state of a multi-location target is decided by whichever engine
            # reported last: every engine probing it learns it here.
            rec.state, rec.state_since = ev.new, ev.ts  # type: ignore[attr-defined]
        elif rec is not None and ev.type == "result" and rec.kind == "heartbeat":
            pass  # a ping another engine took: its "ping" message folds it in (_fold_ping)
        elif rec is not None and ev.type == "result" and not self.holds(rec.id):
            rec.last_latency_ms = ev.latency_ms  # type: ignore[attr-defined]
            rec.last_error_class = ev.error_class  # type: ignore[attr-defined]
        if len(self._remote) > 50_000:
            self._remote.clear()
        self._remote[id(ev)] = ev
        eng.events.publish(ev)

    # ---- what /health, /metrics and `sysalert engines` show -------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "location": self.location,
            "leader": self.leader,
            "targets_held": len(self.held),
            "engines_alive": sum(self.live.values()),
            "error": self.error,
        }
