"""The Engine facade: starts and stops scheduler, writer, alerting and delivery as one unit.

It owns the in-memory view of every target, publishes events, and is the `hooks` object the command
layer calls so a change made anywhere (console, CLI via API, Telegram) reaches the scheduler at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.runner import make_context, run_check
from engine.commands import Commands
from engine.commands.base import live_records
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.events import EventBus, ResultEvent, StateEvent, TargetsChangedEvent
from engine.core.state import FlapTracker, Transition, apply_result
from engine.runtime.metrics import EngineMetrics
from engine.runtime.supervisor import Supervisor
from engine.runtime.watchdog import Watchdog
from engine.store import contacts as cstore
from engine.store import target_batch
from engine.store import targets as tstore
from engine.store.history import ResultWriter
from engine.store.store import Store
from engine.timing.scheduler import Scheduler

log = logging.getLogger(__name__)


class Engine:
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
        self.commands = Commands(store, settings, hooks=self)
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
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

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        # The store writer runs in a worker thread; a short GIL switch interval lets it take its
        # turn within half a millisecond instead of five, which bounds group-commit latency.
        sys.setswitchinterval(0.0005)
        self.started_at = self.clock()
        await anyio.to_thread.run_sync(self._load)
        self._after_replay()
        # Targets, specs and contexts live as long as the engine: keep them out of the cyclic
        # collector's scans, and let short-lived result objects pile up longer between gen-0 runs.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 50)
        self.running = True
        try:
            async with anyio.create_task_group() as tg:
                sup = self.supervisor
                sup.start(tg, "scheduler", self.scheduler.run)
                sup.start(tg, "writer", self._flush_loop)
                sup.start(tg, "housekeeping", self._housekeeping_loop)
                if self.store_lock is not None:
                    sup.start(tg, "store-lock", self._lock_loop)
                sup.start(tg, "alerting", self.alerting.run)
                sup.start(tg, "rules", self.alerting.rules_loop)
                sup.start(tg, "escalation", self.alerting.escalation_loop)
                sup.start(tg, "dispatcher", self.alerting.dispatcher.run)
                sup.start(tg, "telegram", self.telegram.run)
                sup.start(tg, "benchmarks", self.benchmarks.run)
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
        self.alerting.rules._loaded = False
        self.commands.reconcile_declared()

    def _load(self) -> None:
        """Resume from the store: every target scheduled at once, spread over its interval."""
        self.commands.reconcile_declared()  # also removes declared targets no longer in the file
        if self.mode in ("daemon", "embedded"):  # both hold the store's single-instance lock
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
        else:
            # The scheduler's own timer bounds the check; a little slack lets a probe's finer
            # timeout (HTTP phases, command kill grace) report first.
            self.scheduler.add(
                rec.id, rec.interval_s, timeout=rec.timeout_s + (0.0 if rec.kind == "tcp" else 2.0)
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

    def snapshot(self) -> list[TargetRecord]:
        """Every target record as a list, for a walk outside the event loop.

        The loop owns `targets` and adds and removes entries while worker threads run; a worker
        iterating the dict meets "dictionary changed size during iteration". So the copy is made on
        the loop: from another thread this asks the loop for it and waits (a fraction of a
        millisecond; the loop never waits on a worker synchronously, so this cannot deadlock)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread or not loop.is_running():
            return list(self.targets.values())
        fut: concurrent.futures.Future[list[TargetRecord]] = concurrent.futures.Future()

        def take() -> None:
            if not fut.cancelled():
                fut.set_result(list(self.targets.values()))

        try:
            loop.call_soon_threadsafe(take)
            return fut.result(timeout=10.0)
        except (RuntimeError, concurrent.futures.TimeoutError):
            # The loop closed, or stopped running, meanwhile: nothing changes the dict any more.
            fut.cancel()
            return list(self.targets.values())

    # ---- hooks the command layer calls (any thread) ---------------------------------------------
    def _call_in_loop(self, fn: Any, *args: Any) -> None:
        if self._loop is None or threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def target_changed(self, target_id: str) -> None:
        rec = tstore.get(self.store, target_id)
        if rec is not None:
            self._call_in_loop(self._target_changed, rec)

    def _target_changed(self, rec: TargetRecord) -> None:
        self._install(rec)
        self.events.publish(TargetsChangedEvent(self.clock(), rec.id))

    def target_removed(self, target_id: str) -> None:
        self._call_in_loop(self._target_removed, target_id)

    def _target_removed(self, target_id: str) -> None:
        rec = self.targets.pop(target_id, None)
        if rec is not None:
            self._relink(target_id, rec.parent_id, None)
        self.contexts.pop(target_id, None)
        self.alerting.heartbeats.unindex(target_id)
        self.flaps.pop(target_id, None)
        self.scheduler.remove(target_id)
        self.dirty.discard(target_id)
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
        loop = self._loop
        if loop is not None and (loop.is_closed() or not self.running):
            hb.swap_index(ring, tokens, index)  # the engine stopped: no loop to race with
            return
        self._call_in_loop(hb.swap_index, ring, tokens, index)

    async def _adopt_keys(self) -> None:
        """The key file changed (a rotation beside this engine): read and adopt it off the loop."""
        try:
            await anyio.to_thread.run_sync(self.store.refresh_keys)
        except Exception as exc:
            log.error("the rewritten key file cannot be read: %s", exc)

    def check_now(self, target_id: str) -> None:
        self._call_in_loop(self.scheduler.check_now, target_id)

    def incidents_changed(self, incident_id: str) -> None:
        self._call_in_loop(self.alerting.incident_changed, incident_id)

    def maintenance_changed(self) -> None:
        self._call_in_loop(self.alerting.maintenance_changed)

    def state_counts(self) -> dict[str, int]:
        """Targets by shown state, for the status bar every 2 s (any thread). display_state per
        target took 30 ms at 100,000; this one pass takes 17 ms unless a tag is in maintenance.
        The copy of the records also keeps a target added meanwhile from breaking the count."""
        recs = live_records(self) or []
        m = self.alerting.maintenance
        if m.tags:
            return dict(Counter(self.display_state(r) for r in recs))
        everything, some = m.all_active, m.targets
        return dict(
            Counter(
                "paused" if r.paused else ("maintenance" if everything or r.id in some else r.state)
                for r in recs
            )
        )

    def stats(self) -> dict[str, Any]:
        lat = self.scheduler.lateness_percentiles()
        states = self.state_counts()
        return {
            "mode": self.mode,
            "targets": len(self.targets),
            "states": states,
            "probe_rate": round(self.scheduler.probe_rate(), 1),
            "inflight": self.scheduler.inflight,
            "lateness_p50_ms": round(lat["p50_ms"], 2),
            "lateness_p99_ms": round(lat["p99_ms"], 2),
            "results_written": self.writer.written,
            "events_published": self.events.published,
            "last_error": self._last_error(),
            "uptime_s": round(self.clock() - self.started_at, 1),
            "failing": self.failing_parts(),
        }

    def _last_error(self) -> str:
        """The last error, unless it was about a contact that has been removed since."""
        m = self.metrics
        gone = m.last_error_contact is not None
        if gone and cstore.find(self.store, m.last_error_contact or "") is None:
            m.last_error, m.last_error_contact = "", None
        return m.last_error

    def _healthy_now(self) -> bool:
        """What /health would answer now (the watchdog pings by it; worker thread)."""
        from engine.runtime.health import health_report

        return bool(health_report(self)["status"] == "ok")

    def failing_parts(self) -> dict[str, str]:
        """Failing background tasks, store and Telegram bridge, each with its error: empty while
        all is well (the status bar and `sysalert status` show it only then)."""
        out = self.supervisor.failing()
        store = self.store_error or self.store_lock_error
        if store is not None:
            out["store"] = store
        if not self.telegram.healthy:
            out["telegram"] = self.telegram.health_text
        return out

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

    def display_state(self, rec: TargetRecord) -> str:
        return self.alerting.maintenance.shown(rec)

    # ---- probing -----------------------------------------------------------------------------
    def _context(self, rec: TargetRecord) -> ProbeContext:
        ctx = self.contexts.get(rec.id)
        if ctx is None:
            ctx = make_context(rec.timeout_s, rec.options, rec.conditions, self.shared)
            ctx.bounded_outside = True
            self.contexts[rec.id] = ctx
            if rec.kind not in self._direct:
                from engine.checks.probes import get_probe

                probe = get_probe(rec.kind)
                self._direct[rec.kind] = probe if getattr(probe, "own_timeout", False) else None
        return ctx

    def _timed_out(self, target_id: str, limit: float) -> None:
        """The scheduler's timer fired: the check counts as a timeout like any other failure."""
        rec = self.targets.get(target_id)
        if rec is not None:
            self.process(
                rec,
                ProbeResult.failure("timeout", f"no answer within {limit:g}s", limit * 1000),
                self.clock(),
            )

    async def _run_one(self, target_id: str) -> None:
        rec = self.targets.get(target_id)
        if rec is None or rec.paused:
            return
        if rec.kind == "heartbeat":
            self.alerting.heartbeats.evaluate(rec, self.clock())
            return
        ctx = self.contexts.get(target_id) or self._context(rec)
        retries = self.settings.engine.retries
        direct = self._direct.get(rec.kind) if retries == 0 else None
        if direct is not None:  # the hot path: a probe that bounds itself, called without wrappers
            try:
                res = await direct(rec.spec, ctx)
            except Exception as exc:
                res = ProbeResult.failure("error", f"{type(exc).__name__}: {exc}")
        else:
            res = await run_check(rec.spec, ctx, retries)
        if self.targets.get(target_id) is rec:
            done = self._done
            if not done:
                if self._loop is None:  # not running (tools, tests): no batch to wait for
                    self.process(rec, res, self.clock())
                    return
                self._loop.call_soon(self._drain_done)
            done.append((rec, res, self.clock()))

    def _drain_done(self) -> None:
        """Results of the checks that finished in one loop iteration, processed together.

        One tight pass over a batch keeps the engine's code and data in the CPU caches; handled
        one at a time between the kernel's connect and close work, the same Python ran measurably
        slower (tests/perf/probe_rate: about 5% more probes per second this way).
        """
        done, self._done = self._done, []
        targets, process = self.targets, self.process
        for rec, res, now in done:
            current = targets.get(rec.id)
            if current is rec:
                process(current, res, now)

    def process(self, rec: TargetRecord, res: ProbeResult, now: float) -> None:
        """Everything that follows one result: history, state, events, alerting."""
        eng = self.settings.engine
        self.writer.add(rec.id, now, res)
        self.metrics.observe_probe(rec.kind, res.ok, res.latency_ms)
        if res.value is not None:
            self.last_values[rec.id] = res.value
        events = self.events
        tr = apply_result(
            rec,
            res,
            now,
            rec.failure_threshold or eng.failure_threshold,
            rec.recovery_threshold or eng.recovery_threshold,
            self.flaps.get(rec.id),
        )
        self.dirty.add(rec.id)
        if events.subscribers:
            shown = self.display_state(rec)
            events.publish(
                ResultEvent(now, rec.id, res.ok, res.latency_ms, res.error_class, shown, res.value)
            )
        if tr is not None:
            if tr.old != tr.new:
                self.events.publish(StateEvent(now, rec.id, tr.old, tr.new, res.error_class))
            self.alerting.on_transition(rec, tr, res, now)

    def process_state(
        self, rec: TargetRecord, new: str, res: ProbeResult, now: float, ping: str | None = None
    ) -> None:
        """For kinds whose state is decided by their own rules (heartbeats): no streak thresholds.
        `ping` names the heartbeat ping the result records (None for a missed deadline)."""
        self.writer.add(rec.id, now, res, ping)
        self.metrics.observe_probe(rec.kind, res.ok, res.latency_ms)
        rec.last_check_at = now
        rec.last_error_class = res.error_class
        old = rec.state
        self.dirty.add(rec.id)
        if new != old:
            rec.state, rec.state_since = new, now
        events = self.events
        if events.subscribers:
            events.publish(
                ResultEvent(
                    now,
                    rec.id,
                    res.ok,
                    res.latency_ms,
                    res.error_class,
                    self.display_state(rec),
                    res.value,
                )
            )
        if new != old:
            events.publish(StateEvent(now, rec.id, old, new, res.error_class))
            self.alerting.on_transition(rec, Transition(old, new), res, now)

    async def committed(self) -> None:
        """Wait until everything recorded so far is committed (group commit within a few ms)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(exc: Exception | None) -> None:
            if not fut.done():
                if exc is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(exc)

        self.when_committed(done)
        await fut

    def when_committed(self, callback: Callable[[Exception | None], None]) -> None:
        """Call `callback(None)` once everything recorded so far is committed, or with the error.

        The ping listener answers through this without a task or future per request (hot path).
        Event loop thread only.
        """
        self._commit_waiters.append(callback)
        self._kick.set()

    # ---- background loops --------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        period = self.settings.engine.result_batch_ms / 1000
        last_runtime = 0.0
        while True:
            # Group commit: a waiting ping starts a commit at once; pings that arrive while it runs
            # ride in the next one. Without waiters, results go out every result_batch_ms.
            try:
                async with asyncio.timeout(period):
                    await self._kick.wait()
            except TimeoutError:
                pass
            self._kick.clear()
            self.loop_heartbeat = self.clock()
            await self._flush(runtime=self.loop_heartbeat - last_runtime > 2.0)
            if self.loop_heartbeat - last_runtime > 2.0:
                last_runtime = self.loop_heartbeat
                # Every 2 s, one stat: a rotation run beside this engine is adopted within
                # seconds even when nothing reads a value sealed under the new key.
                if self.store.key_file_changed():
                    await self._adopt_keys()

    async def _flush(self, runtime: bool) -> None:
        batch = self.writer.take()
        waiters, self._commit_waiters = self._commit_waiters, []
        dirty: list[TargetRecord] = []
        if runtime and self.dirty:
            dirty = [self.targets[t] for t in self.dirty if t in self.targets]
            self.dirty = set()
        purge, self._purge = self._purge, set()
        if not batch and not dirty and not self._unwritten and not purge:
            _settle(waiters, None)
            return
        # Small SQLite group commits (heartbeat pings waiting for their answer) happen right here in
        # a fraction of a millisecond. Bigger batches, runtime state, roll-ups, PostgreSQL or a busy
        # store go to a worker thread, where SQLite's C code runs beside the event loop.
        if (
            len(batch) <= 256
            and not dirty
            and not self._unwritten
            and not purge
            and self.store.sqlite
            and not self.writer.rollups_due()
        ):
            rows = self.writer.prepare(batch)
            if self.writer.commit_inline(rows):
                self.store_error = None
                _settle(waiters, None)
                return
            self._unwritten = rows
            batch = []
        try:
            await anyio.to_thread.run_sync(self._write, batch, dirty, False, purge)
            self.store_error = None
            _settle(waiters, None)
        except Exception as exc:
            _settle(waiters, exc)
            from engine.store.db import describe_error

            self.store_error = describe_error(exc)
            self.metrics.last_error = f"store: {self.store_error}"
            log.error("store write failed: %s", self.store_error)
            self.dirty.update(r.id for r in dirty)
            self._purge.update(purge)

    def _write(
        self,
        batch: list[Any],
        dirty: list[TargetRecord],
        final: bool = False,
        purge: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Worker thread: results in one transaction, then the runtime state of changed targets.
        Rows that fail to commit are kept, already prepared, for the next flush (bounded).

        `purge` names targets removed since the last write: a batch that was already in this
        thread when one was deleted can have landed after the delete, and would stay behind as
        rows of a target that no longer exists (after a subscriber's erase, too)."""
        rows = self._unwritten + self.writer.prepare(batch)
        self._unwritten = []
        try:
            if rows or final:
                self.writer.commit(rows, rollups=True if final else None)
        except Exception:
            self._unwritten = rows[-50_000:]
            raise
        if purge:
            from engine.store.history import purge_targets

            purge_targets(self.store, purge)
        if dirty:
            self.alerting.heartbeats.serialize(dirty)
            tstore.save_runtime(self.store, dirty)
        self.writer.checkpoint()

    async def _final_flush(self) -> None:
        self._drain_done()  # results of checks that finished in the last loop iteration
        try:
            dirty = list(self.targets.values())
            purge, self._purge = self._purge, set()
            await anyio.to_thread.run_sync(self._write, self.writer.take(), dirty, True, purge)
            self.writer.close()
            waiters, self._commit_waiters = self._commit_waiters, []
            _settle(waiters, None)
        except Exception as exc:
            log.exception("final flush failed")
            waiters, self._commit_waiters = self._commit_waiters, []
            _settle(waiters, exc)

    async def _housekeeping_loop(self) -> None:
        from engine.store.history import housekeeping

        while True:
            r = self.settings.retention  # read each round: SIGHUP may have changed it
            self.housekeeping_heartbeat = self.clock()
            try:
                removed = await anyio.to_thread.run_sync(
                    functools.partial(
                        housekeeping,
                        self.store,
                        r.raw_days,
                        r.rollup_days,
                        history_days=r.history_days,
                    )
                )
                error = None
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception as exc:
                # The loop lives on, but /health says housekeeping fails until a round succeeds.
                error = type(exc).__name__
                log.error("housekeeping failed: %s", type(exc).__name__, exc_info=exc)
            self.housekeeping_error = error
            await anyio.sleep(r.housekeeping_interval)

    async def _lock_loop(self, period: float = 1.0) -> None:
        """Watch the store's engine lock. A PostgreSQL advisory lock dies with its connection (a
        server restart, `pg_terminate_backend`): /health turns red at once and the lock is taken
        again on a fresh connection. Taking it again is safe because it is a try-lock: if another
        engine took the store meanwhile it fails, and this engine stays red and says so."""
        lock = self.store_lock
        delay = period
        while True:
            await anyio.sleep(delay)
            if await anyio.to_thread.run_sync(lock.held):
                if self.store_lock_error is not None:
                    log.info("the store's engine lock is held again")
                self.store_lock_error, delay = None, period
                continue
            if self.store_lock_error is None:
                self.store_lock_error = "StoreLockLost"
                log.error("the store's engine lock was lost (its connection died); taking it again")
                continue  # a moment for the server to come back before reconnecting
            from engine.core.errors import StoreBusy
            from engine.store.db import describe_error

            try:
                await anyio.to_thread.run_sync(lock.reacquire)
            except StoreBusy:
                self.store_lock_error = "StoreLockLost: another engine holds the store now"
                log.error("the store's engine lock is held by another engine: stop one of them")
            except Exception as exc:
                self.store_lock_error = f"StoreLockLost: {describe_error(exc)}"
                log.error("taking the store's engine lock again failed: %s", describe_error(exc))
            else:
                self.store_lock_error = None
                log.warning("the store's engine lock was lost and is held again")
                continue
            delay = min(delay * 2, 10.0)


class EngineAlarms:
    """The supervisor's port: a task failing for a minute opens one local `engine` incident (one
    per task, deduplicated) for every contact whose channel still works; recovery resolves it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def task_failing(self, name: str, summary: str) -> None:
        al = self.engine.alerting
        skip = frozenset({"telegram"}) if name == "telegram" else frozenset()
        await anyio.to_thread.run_sync(
            functools.partial(
                al.open_local_incident,
                f"engine:{name}",
                "engine",
                summary,
                None,
                everyone=True,
                skip_channels=skip,
            )
        )
        al.dispatcher.wake()

    async def task_recovered(self, name: str) -> None:
        al = self.engine.alerting
        await anyio.to_thread.run_sync(al.resolve_local_incident, f"engine:{name}")
        al.dispatcher.wake()


RESTART_ONLY = (
    ("engine", "concurrency"),
    ("general", "database_url"),
    ("general", "data_dir"),
    ("api", "listen"),
    ("api", "socket"),
    ("api", "tls_cert"),
    ("api", "tls_key"),
)


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """The changed keys a SIGHUP cannot apply to a running engine."""
    return [
        f"{section}.{key}"
        for section, key in RESTART_ONLY
        if getattr(getattr(old, section), key) != getattr(getattr(new, section), key)
    ]


def _settle(waiters: list[Callable[[Exception | None], None]], exc: Exception | None) -> None:
    for done in waiters:
        try:
            done(exc)
        except Exception:  # one broken waiter must not keep the others from their answer
            log.exception("commit waiter failed")
