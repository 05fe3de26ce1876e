"""The results path of the Engine: run one check, process its result (history, state, events,
alerting), and group-commit results and runtime state to the store."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.runner import make_context, run_check
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.events import EventBus, ResultEvent, StateEvent
from engine.core.state import FlapTracker, Transition, apply_result
from engine.runtime.cluster import ClusterMember
from engine.runtime.metrics import EngineMetrics
from engine.store import targets as tstore
from engine.store.history import ResultWriter
from engine.store.store import Store

log = logging.getLogger(__name__)

# Runtime columns (state, streaks, last check) go to the store every RUNTIME_S for targets whose
# result changed something that matters on a restart or a takeover (state, error class, a
# streak towards a threshold); a target that merely stays up is written every QUIET_RUNTIME_S.
# At 100,000 targets every 30 s, that UPDATE of each checked target's row was the biggest part
# of the writer thread's work (7 us a check of 0.2 ms).
RUNTIME_S = 2.0
QUIET_RUNTIME_S = 60.0
_QUIET_STATES = frozenset({"up", "degraded"})


class ResultsPath:
    """Mixin of the Engine: from a finished check to a committed row. Loop thread, except
    `_write`, which runs in a worker thread."""

    settings: Settings
    store: Store
    clock: Any
    events: EventBus
    metrics: EngineMetrics
    targets: dict[str, TargetRecord]
    contexts: dict[str, ProbeContext]
    flaps: dict[str, FlapTracker]
    shared: dict[str, Any]
    writer: ResultWriter
    dirty: set[str]
    # Up (or degraded) and staying so, with when each was first left unwritten (oldest first):
    # written QUIET_RUNTIME_S later, a few thousand per flush rather than all at once.
    quiet: dict[str, float]
    last_values: dict[str, float]
    alerting: Any
    cluster: ClusterMember | None
    loop_heartbeat: float
    store_error: str | None
    _direct: dict[str, Any]
    _done: list[Any]
    _commit_waiters: list[Callable[[Exception | None], None]]
    _unwritten: list[Any]
    _purge: set[str]
    _kick: asyncio.Event

    if TYPE_CHECKING:  # provided by the other parts of the Engine

        @property
        def loop(self) -> asyncio.AbstractEventLoop | None: ...
        def display_state(self, rec: TargetRecord) -> str: ...
        async def _adopt_keys(self) -> None: ...

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
                loop = self.loop
                if loop is None:  # not running (tools, tests): no batch to wait for
                    self.process(rec, res, self.clock())
                    return
                loop.call_soon(self._drain_done)  # on the loop already: no marshalling
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
        if rec.locations and self.cluster is not None:
            # Probed from several locations: this location's view goes to the store, which
            # decides the combined state (engine.runtime.cluster).
            self.cluster.location_result(rec, res, now)
            if events.result_readers:
                events.publish(
                    ResultEvent(now, rec.id, res.ok, res.latency_ms, res.error_class, rec.state)
                )
            return
        tr = apply_result(
            rec,
            res,
            now,
            rec.failure_threshold or eng.failure_threshold,
            rec.recovery_threshold or eng.recovery_threshold,
            self.flaps.get(rec.id),
        )
        if tr is None and rec.state in _QUIET_STATES:
            if rec.id not in self.quiet:
                self.quiet[rec.id] = now
        else:
            self.dirty.add(rec.id)
        if events.result_readers:
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
        if events.result_readers:
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
            runtime = self.loop_heartbeat - last_runtime > RUNTIME_S
            await self._flush(runtime=runtime)
            if runtime:
                last_runtime = self.loop_heartbeat
                # Every 2 s, one stat: a rotation run beside this engine is adopted within
                # seconds even when nothing reads a value sealed under the new key.
                if self.store.key_file_changed():
                    await self._adopt_keys()

    def _quiet_due(self) -> list[str]:
        """The steady targets left unwritten for QUIET_RUNTIME_S, oldest first, taken off the
        queue: each flush writes those whose minute is up, so 100,000 targets go out a few
        thousand at a time, never in one batch that holds the writer (and the GIL) for seconds."""
        cutoff = self.clock() - QUIET_RUNTIME_S
        quiet = self.quiet
        due = list(itertools.takewhile(lambda t: quiet[t] <= cutoff, quiet))
        for tid in due:
            del quiet[tid]
        return due

    async def _flush(self, runtime: bool) -> None:
        batch = self.writer.take()
        waiters, self._commit_waiters = self._commit_waiters, []
        dirty: list[TargetRecord] = []
        if runtime:
            ids = self.dirty
            steady = self._quiet_due() if self.quiet else []
            if steady:
                if self.cluster is not None:
                    # A target handed to another engine since its last check here is that
                    # engine's to write now: a minute-old row must not overwrite its state.
                    held = self.cluster.held_ids()
                    steady = [t for t in steady if t in held]
                ids = ids.union(steady)
            if ids:
                targets = self.targets
                dirty = [targets[t] for t in ids if t in targets]
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
            if self.cluster is not None:  # the others' targets are theirs to write
                mine = self.cluster.held_ids()
                dirty = [r for r in dirty if r.id in mine and not r.locations]
            purge, self._purge = self._purge, set()
            await anyio.to_thread.run_sync(self._write, self.writer.take(), dirty, True, purge)
            self.writer.close()
            waiters, self._commit_waiters = self._commit_waiters, []
            _settle(waiters, None)
        except Exception as exc:
            log.exception("final flush failed")
            waiters, self._commit_waiters = self._commit_waiters, []
            _settle(waiters, exc)


def _settle(waiters: list[Callable[[Exception | None], None]], exc: Exception | None) -> None:
    for done in waiters:
        try:
            done(exc)
        except Exception:  # one broken waiter must not keep the others from their answer
            log.exception("commit waiter failed")
