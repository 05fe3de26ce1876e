"""The Engine facade: starts and stops scheduler, writer, alerting and delivery as one unit.

The class is put together from parts, each in its own module: the loop port (engine.runtime.loop,
the one place work is marshalled onto the loop), the results path (engine.runtime.results), the
figures it reports (engine.runtime.stats) and its background loops (engine.runtime.background).
Process-wide tuning (GIL switch interval, gc.freeze) is the daemon's (sysalert_tui.tuning): an
engine embedded in the console or a test leaves the process as it found it.

It owns the in-memory view of every target, publishes events, and is the `hooks` object the command
layer calls so a change made anywhere (console, CLI via API, Telegram) reaches the scheduler at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.commands import Commands
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.events import EventBus, ResultEvent, StateEvent, TargetsChangedEvent
from engine.core.state import FlapTracker, Transition
from engine.runtime.background import Background, EngineAlarms, restart_only_changes
from engine.runtime.cluster import ClusterMember
from engine.runtime.loop import LoopPort
from engine.runtime.metrics import EngineMetrics
from engine.runtime.results import ResultsPath
from engine.runtime.stats import EngineStats
from engine.runtime.supervisor import Supervisor
from engine.runtime.watchdog import Watchdog
from engine.store import target_batch
from engine.store import targets as tstore
from engine.store.history import ResultWriter
from engine.store.store import Store
from engine.timing.scheduler import Scheduler

__all__ = ["Engine", "EngineAlarms", "restart_only_changes"]

log = logging.getLogger(__name__)


class Engine(LoopPort, ResultsPath, EngineStats, Background):
    """One per store. `async with Engine(...)` or `await engine.run()` inside a task group."""

    def __init__(
        self, settings: Settings, store: Store, mode: str = "embedded", clock: Any = time.time
    ) -> None:
        self.settings = settings
        self.store = store
        self.mode = mode
        self.clock = clock
        self.events = EventBus()
        self.metrics = EngineMetrics()
        from engine.telegram.account import TelegramAccount

        self.commands = Commands(store, settings, hooks=self, telegram=TelegramAccount())
        self.targets: dict[str, TargetRecord] = {}
        # parent id -> ids of the targets that depend on it. Values are tuples, replaced (never
        # changed in place) on the loop, so a worker thread reads one with a single dict get.
        self.children: dict[str, tuple[str, ...]] = {}
        self.contexts: dict[str, ProbeContext] = {}
        self._direct: dict[str, Any] = {}  # kind -> probe callable without wrappers (hot path)
        self.flaps: dict[str, FlapTracker] = {}
        self.shared: dict[str, Any] = {}
        self.scheduler = Scheduler(
            self._run_one, settings.engine.concurrency, on_timeout=self._timed_out
        )
        self.writer = ResultWriter(store)
        self.dirty: set[str] = set()
        self.quiet: dict[str, float] = {}  # see engine.runtime.results.QUIET_RUNTIME_S
        self.last_values: dict[str, float] = {}
        self.started_at = 0.0
        self.loop_heartbeat = 0.0
        self.housekeeping_heartbeat = 0.0
        self.housekeeping_error: str | None = None  # the last round's failure, None when fine
        self.store_lock: Any = None  # the daemon's or console's StoreLock, watched every second
        self.store_lock_error: str | None = None  # why the lock is not held now, None when it is
        # Every background task runs under it: a crash is logged, restarted and shown in /health.
        self.supervisor = Supervisor(EngineAlarms(self))
        self.watchdog = Watchdog(lambda: self.settings.watchdog, self._healthy_now)
        # "HOST:PORT" of the TCP listener serving /ping, when one runs (the embedded console and a
        # daemon without --listen serve the Unix socket only).
        self.ping_listener: str | None = None
        self.store_error: str | None = None
        self.running = False
        self._stop = anyio.Event()
        # Called with None once everything recorded before them is committed, or with the error.
        self._commit_waiters: list[Callable[[Exception | None], None]] = []
        self._unwritten: list[Any] = []
        # Removed targets whose rows a write already in the worker thread may still add: deleted
        # again by the next write, which runs after that one (writes never overlap).
        self._purge: set[str] = set()
        self._replayed: list[tuple[TargetRecord, Transition]] = []
        self._done: list[Any] = []
        self._kick = asyncio.Event()
        from engine.alerting.alerting import Alerting
        from engine.benchmarks.runner import BenchmarkRunner

        self.alerting = Alerting(self)
        from engine.telegram.bridge import TelegramBridge

        self.telegram = TelegramBridge(self)
        self.benchmarks = BenchmarkRunner(self)
        store.on_keys_changed(self._keys_changed)
        # On PostgreSQL several engines share the store: a running engine probes the targets
        # it leases (set in run; an engine driven without running, in tools and tests, is alone).
        self.cluster: ClusterMember | None = None

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        self.bind_loop()
        self.started_at = self.clock()
        if not self.store.sqlite and self.mode in ("daemon", "embedded"):
            self.cluster = ClusterMember(self)
        await anyio.to_thread.run_sync(self._load)
        self._after_replay()
        self.running = True
        try:
            async with anyio.create_task_group() as tg:
                sup = self.supervisor
                sup.start(tg, "scheduler", self.scheduler.run)
                sup.start(tg, "writer", self._flush_loop)
                if self.store_lock is not None:
                    sup.start(tg, "store-lock", self._lock_loop)
                sup.start(tg, "alerting", self.alerting.run)
                sup.start(tg, "rules", self.alerting.rules_loop)
                sup.start(tg, "dispatcher", self.alerting.dispatcher.run)
                # Store-wide duties: on a shared store only the leading engine runs them.
                lead = self.cluster.leader_only if self.cluster else (lambda fn: fn)
                sup.start(tg, "housekeeping", lead(self._housekeeping_loop))
                sup.start(tg, "escalation", lead(self.alerting.escalation_loop))
                sup.start(
                    tg, "alertmanager-silences", lead(self.alerting.alertmanager.silences.run)
                )
                sup.start(tg, "telegram", lead(self.telegram.run))
                sup.start(tg, "benchmarks", lead(self.benchmarks.run))
                if self.cluster is not None:
                    sup.start(tg, "cluster-leases", self.cluster.lease_loop)
                    sup.start(tg, "cluster-locations", self.cluster.report_loop)
                    sup.start(tg, "cluster-events-out", self.cluster.relay_out)
                    sup.start(tg, "cluster-events-in", self.cluster.relay_in)
                sup.start(tg, "watchdog", self.watchdog.run)
                tg.start_soon(sup.monitor)
                task_status.started()
                await self._stop.wait()
                await self._drain()
                tg.cancel_scope.cancel()
        finally:
            self.running = False
            with anyio.CancelScope(shield=True):
                await self._final_flush()
                from engine.checks.probes.http import close_shared

                await close_shared(self.shared)
                if self.cluster is not None:
                    await anyio.to_thread.run_sync(self.cluster.leave)

    def stop(self) -> None:
        self._stop.set()

    async def _drain(self, bound: float = 5.0) -> None:
        """Finish in-flight checks and sends within a bound; start nothing new."""
        self.scheduler.draining = True
        with anyio.move_on_after(bound):
            while self.scheduler.inflight > 0 or self.alerting.dispatcher.busy:
                await anyio.sleep(0.05)

    def reload_settings(self, new: Settings) -> None:
        """SIGHUP: adopt validated settings and reconcile declared targets (worker thread).
        Keys the running engine has built on (the worker pool, the store, the listeners) take
        effect at the next start: the log names them instead of pretending."""
        later = restart_only_changes(self.settings, new)
        if later:
            log.warning("config reload: %s take effect at the next restart", ", ".join(later))
        self.settings = new
        self.commands.settings = new
        self.alerting.rules.loaded = False
        self.commands.reconcile_declared()

    def _load(self) -> None:
        """Resume from the store: every target scheduled at once, spread over its interval."""
        self.commands.reconcile_declared()  # also removes declared targets no longer in the file
        if self.cluster is not None:
            self.cluster.first_round()  # the leases this engine starts with
        elif self.mode in ("daemon", "embedded"):  # both hold the store's single-instance lock
            from engine.notify.outbox import reclaim_orphans

            if reclaim_orphans(self.store):
                log.info("outbox: notifications left mid-send by the last run are queued again")
        for rec in target_batch.iter_all(self.store):  # a chunk at a time: RSS at 100,000
            self._install(rec)
        log.info("engine loaded %d targets", len(self.targets))
        # Audit rows name targets by keyed ref: compute them here, in the loading thread, so the
        # console's first history page does not (about 0.2 s at 100,000 targets).
        self.store.refs_of("target", self.targets)
        # The orders a console pages through (engine/commands/target_views.py), built here
        # rather than in the first console's wait: about 0.5 s at 100,000 targets.
        self.commands.target_page(limit=1)
        beats = [r for r in self.targets.values() if r.kind == "heartbeat"]
        self._replayed = self.alerting.heartbeats.replay(beats, self.clock())

    def _after_replay(self) -> None:
        """State changes found by replaying heartbeat pings go where a live change goes."""
        now = self.clock()
        for rec, tr in self._replayed:
            self.dirty.add(rec.id)
            self.events.publish(StateEvent(now, rec.id, tr.old, tr.new, None))
            res = ProbeResult(tr.new in ("up", "unknown"), None, None, None, "")
            if not res.ok:
                st = self.alerting.heartbeats.states.get(rec.id)
                failed = st is not None and st.last_kind == "fail"
                res = ProbeResult.failure(
                    "exit" if failed else "missed",
                    "ping: fail" if failed else "no ping within the period and grace",
                )
            self.alerting.on_transition(rec, tr, res, now)
        self._replayed = []

    def _install(self, rec: TargetRecord) -> None:
        old = self.targets.get(rec.id)
        if old is not None:  # keep live runtime state across an edit
            for k in (
                "state",
                "state_since",
                "last_check_at",
                "last_latency_ms",
                "last_error_class",
                "fail_streak",
                "ok_streak",
                "flapping",
                "hb_state",
            ):
                if rec.kind == old.kind:
                    setattr(rec, k, getattr(old, k))
        self.targets[rec.id] = rec
        self._relink(rec.id, old.parent_id if old is not None else None, rec.parent_id)
        self.contexts.pop(rec.id, None)
        if rec.kind == "heartbeat":
            self.alerting.heartbeats.index(rec)
        eng = self.settings.engine
        self.flaps.setdefault(rec.id, FlapTracker(eng.flap_window, eng.flap_threshold))
        if rec.paused:
            self.scheduler.remove(rec.id)
            rec.state = "paused"
        elif self.cluster is not None and not self.cluster.holds(rec.id):
            self.scheduler.remove(rec.id)  # another engine probes it (or will: lease rows)
            self.cluster.kick()
        else:
            self.schedule(rec)

    def leads(self) -> bool:
        """Whether this engine runs the store-wide duties (always, without other engines)."""
        return self.cluster is None or self.cluster.leader

    def probes_here(self, target_id: str) -> bool:
        """Whether this engine probes (holds the lease of) a target; always on SQLite."""
        return self.cluster is None or self.cluster.holds(target_id)

    def ping_elsewhere(self, rec: TargetRecord, res: ProbeResult, now: float, code: str) -> None:
        """A ping for a heartbeat another engine holds: once its row is committed, that engine
        is told its time and code over NOTIFY (it folds it in without reading the store), and
        consoles here see a result event."""

        def committed(exc: Exception | None) -> None:
            if exc is None:
                if self.cluster is not None:
                    self.cluster.forward_ping(rec.id, now, code)
                self.events.publish(
                    ResultEvent(now, rec.id, res.ok, None, res.error_class, rec.state)
                )

        self.when_committed(committed)

    def replayed(self, changes: list[tuple[TargetRecord, Transition]]) -> None:
        """State changes found by folding stored pings in: where a live change goes."""
        self._replayed = changes
        self._after_replay()

    def schedule(self, rec: TargetRecord, first_due: float | None = None) -> None:
        """Probe a target from now on (from `first_due`, scheduler clock, when given). The
        scheduler's own timer bounds the check; a little slack lets a probe's finer timeout
        (HTTP phases, command kill grace) report first."""
        self.scheduler.add(
            rec.id,
            rec.interval_s,
            first_due,
            timeout=rec.timeout_s + (0.0 if rec.kind == "tcp" else 2.0),
        )

    def _relink(self, target_id: str, old_parent: str | None, new_parent: str | None) -> None:
        """Keep `children` in step with a target's parent (loop thread)."""
        if old_parent == new_parent:
            return
        if old_parent is not None:
            kids = tuple(k for k in self.children.get(old_parent, ()) if k != target_id)
            if kids:
                self.children[old_parent] = kids
            else:
                self.children.pop(old_parent, None)
        if new_parent is not None:
            self.children[new_parent] = (*self.children.get(new_parent, ()), target_id)

    # ---- hooks the command layer calls (any thread) ---------------------------------------------
    def target_changed(self, target_id: str) -> None:
        rec = tstore.get(self.store, target_id)
        if rec is not None:
            self.call_in_loop(self._target_changed, rec)

    def _target_changed(self, rec: TargetRecord) -> None:
        self._install(rec)
        self.events.publish(TargetsChangedEvent(self.clock(), rec.id))

    def targets_changed(self, recs: list[TargetRecord]) -> None:
        """An import's batch, installed from the records just written (their rows exactly) in
        one turn of the loop: a store read and a callback per target cost the daemon 1.2 ms
        each, five times the rest of an attached import."""
        self.call_in_loop(self._targets_changed, list(recs))

    def _targets_changed(self, recs: list[TargetRecord]) -> None:
        for rec in recs:
            self._target_changed(rec)

    def target_removed(self, target_id: str) -> None:
        self.call_in_loop(self._target_removed, target_id)

    def _target_removed(self, target_id: str) -> None:
        rec = self.targets.pop(target_id, None)
        if rec is not None:
            self._relink(target_id, rec.parent_id, None)
        self.contexts.pop(target_id, None)
        self.alerting.heartbeats.unindex(target_id)
        self.flaps.pop(target_id, None)
        self.scheduler.remove(target_id)
        self.dirty.discard(target_id)
        self.quiet.pop(target_id, None)
        self.writer.forget(target_id)
        self._purge.add(target_id)
        self.last_values.pop(target_id, None)
        self.events.publish(TargetsChangedEvent(self.clock(), target_id, removed=True))

    def _keys_changed(self, ring: Any) -> None:
        """The store adopted a rotated key ring (in the thread that adopted it): every in-memory
        index keyed by a fingerprint is built again under it, here, and swapped in on the loop
        that owns it. The heartbeat token index is the only one: names, tags and chat ids are
        held in plaintext in memory, and looked up in the store by fingerprints the store
        computes with its current ring (Store.fps, under every key)."""
        hb = self.alerting.heartbeats
        tokens, index = hb.build_index(ring, self.snapshot())
        loop = self.loop
        if loop is not None and (loop.is_closed() or not self.running):
            hb.swap_index(ring, tokens, index)  # the engine stopped: no loop to race with
            return
        self.call_in_loop(hb.swap_index, ring, tokens, index)

    async def _adopt_keys(self) -> None:
        """The key file changed (a rotation beside this engine): read and adopt it off the loop."""
        try:
            await anyio.to_thread.run_sync(self.store.refresh_keys)
        except Exception as exc:
            log.error("the rewritten key file cannot be read: %s", exc)

    def check_now(self, target_id: str) -> dict[str, Any] | None:
        """Jump the queue here; on a shared store, also ask the engines holding the target in
        other locations (or in this one, when another engine holds it). Worker thread."""
        if self.cluster is None:
            self.call_in_loop(self.scheduler.check_now, target_id)
            return None
        got = self.cluster.check_now(target_id)
        if got["here"]:
            self.call_in_loop(self.scheduler.check_now, target_id)
        return got

    def incidents_changed(self, incident_id: str) -> None:
        self.call_in_loop(self.alerting.incident_changed, incident_id)

    def maintenance_changed(self) -> None:
        self.call_in_loop(self.alerting.maintenance_changed)

    def _healthy_now(self) -> bool:
        """What /health would answer now (the watchdog pings by it; worker thread)."""
        from engine.api.health import health_report

        return bool(health_report(self)["status"] == "ok")

    async def send_to_contact(self, contact: Any, msg: Any) -> Any:
        """`notify test` inside a running engine: every channel, the Telegram session included."""
        import httpx

        from engine.notify.dispatcher import channel_context

        async with httpx.AsyncClient(timeout=15.0) as http:
            out = await self.alerting.dispatcher.send(
                contact, msg, channel_context(self.settings, http)
            )
        if out.ok:  # a contact that works again: its delivery incident is over
            await self.alerting.dispatcher.delivered(contact.id, checked=True)
        return out
