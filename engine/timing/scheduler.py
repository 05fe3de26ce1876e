"""One scheduler for every target: a heap of due times, a dispatcher, and a fixed pool of workers.

No task per target: 100,000 targets are 100,000 heap entries. First runs are spread over the
interval, a global concurrency limit bounds in-flight probes, and lateness (actual start minus due
time) is measured for every start.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RunOne = Callable[[str], Awaitable[None]]
OnTimeout = Callable[[str, float], None]
NOW_PRIORITY = -1e12  # "check now" sorts before every due time
MIN_SLEEP = 0.001  # the dispatcher's shortest sleep (the timer resolution of uvloop)


class Scheduler:
    def __init__(
        self,
        run_one: RunOne,
        concurrency: int = 500,
        clock: Callable[[], float] = time.monotonic,
        on_timeout: OnTimeout | None = None,
    ) -> None:
        self.run_one = run_one
        self.on_timeout = on_timeout
        self.timeouts: dict[str, float] = {}
        self.concurrency = concurrency
        self.clock = clock
        self.heap: list[tuple[float, int, str]] = []
        self.live: dict[str, int] = {}
        self.intervals: dict[str, float] = {}
        self._seq = itertools.count()
        self._queue = _Handoff()
        self._wake = _Wake()
        self.inflight = 0
        self.started = 0
        self.completed = 0
        self.lateness: deque[float] = deque(maxlen=20_000)
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=64)
        self.draining = False

    # ---- what to run and when ---------------------------------------------------------------
    def add(
        self,
        target_id: str,
        interval: float,
        first_due: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Schedule a target; without first_due its first run lands at a stable spot in its interval.

        With a timeout (and an on_timeout callback) the scheduler bounds the check itself: one
        watchdog sweep bounds every check (see _watchdog)."""
        self.intervals[target_id] = interval
        if timeout is not None:
            self.timeouts[target_id] = timeout
        if first_due is None:
            offset = (zlib.crc32(target_id.encode()) % 10_000) / 10_000 * min(interval, 300.0)
            first_due = self.clock() + offset
        self._push(target_id, first_due)

    def remove(self, target_id: str) -> None:
        self.live.pop(target_id, None)
        self.intervals.pop(target_id, None)
        self.timeouts.pop(target_id, None)

    def check_now(self, target_id: str) -> None:
        """Jump the queue: runs before anything merely due."""
        if target_id in self.intervals:
            self._push(target_id, NOW_PRIORITY)

    def _push(self, target_id: str, due: float) -> None:
        seq = next(self._seq)
        self.live[target_id] = seq
        heapq.heappush(self.heap, (due, seq, target_id))
        if self.heap[0][1] == seq:
            self._wake.set()

    def dues(self) -> dict[str, float]:
        """Each scheduled target's next due time (this clock): one pass over the heap, for the
        rare hand-over of targets to another engine, which goes on from the same times."""
        live = self.live
        return {tid: due for due, seq, tid in self.heap if live.get(tid) == seq}

    def __len__(self) -> int:
        return len(self.intervals)

    # ---- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Dispatcher plus worker pool; runs until cancelled."""
        n = self.concurrency
        self._deadlines = [float("inf")] * n
        self._expired = [False] * n
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(n)]
        watchdog = asyncio.create_task(self._watchdog())
        try:
            await self._dispatch()
        finally:
            for w in [*self._tasks, watchdog]:
                w.cancel()
            await asyncio.gather(*self._tasks, watchdog, return_exceptions=True)
            self._requeue_handed()

    def _requeue_handed(self) -> None:
        """Checks handed to the workers but not begun go back to the heap, so a restarted run
        (the supervisor's) still runs them instead of losing those targets for good."""
        q = self._queue
        while q.items:
            tid, due = q.items.popleft()
            self.inflight -= 1
            if tid in self.intervals and tid not in self.live:
                self._push(tid, due)
        q.waiters.clear()

    async def _watchdog(self, tick: float = 0.05) -> None:
        """Timeouts for every check from one task: a 50 ms sweep over the workers' deadlines costs
        far less than a timer armed and cancelled for each of thousands of checks a second."""
        deadlines, expired, tasks, clock = self._deadlines, self._expired, self._tasks, self.clock
        while True:
            await asyncio.sleep(tick)
            now = clock()
            if min(deadlines) > now:  # the usual case: one pass in C instead of one in Python
                continue
            for i, d in enumerate(deadlines):
                if d <= now and not expired[i]:
                    expired[i] = True
                    tasks[i].cancel()

    def _take_due(self, now: float) -> tuple[str, float] | None:
        """Pop the earliest live entry if it is due; counts it as started."""
        heap, live = self.heap, self.live
        while heap:
            due, seq, tid = heap[0]
            if live.get(tid) != seq:
                heapq.heappop(heap)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            del live[tid]
            if due != NOW_PRIORITY:
                self.lateness.append(now - due)
            self.inflight += 1
            self.started += 1
            return tid, due
        return None

    async def _dispatch(self) -> None:
        """Hands due checks to idle workers and sleeps until the next due time (or a wake-up)."""
        heap, clock = self.heap, self.clock
        while True:
            now = clock()
            while self.inflight < self.concurrency and not self.draining:
                item = self._take_due(now)
                if item is None:
                    break
                self._queue.put_nowait(item)
            self._wake.clear()
            if heap and self.inflight < self.concurrency and not self.draining:
                delay = heap[0][0] - now
                if delay > 0:
                    # At least a millisecond: uvloop's timers count whole milliseconds and run a
                    # shorter delay at once, so the dispatcher would spin until the due time.
                    await self._wake.wait(min(max(delay, MIN_SLEEP), 1.0))
                else:
                    await asyncio.sleep(0)
            else:
                await self._wake.wait()

    async def _worker(self, index: int) -> None:
        """Runs a check, reschedules it, then takes the next due check itself when there is one:
        under load no check waits for a dispatcher round trip."""
        q = self._queue
        item: tuple[str, float] | None = None
        task = self._tasks[index] if index < len(self._tasks) else asyncio.current_task()
        assert task is not None
        deadlines, expired = self._deadlines, self._expired
        timeouts = self.timeouts if self.on_timeout is not None else {}
        inf = float("inf")
        while True:
            if item is None:
                item = q.get_nowait() if q.items else await q.get()
            tid, due = item
            limit = timeouts.get(tid)
            if limit is not None:
                deadlines[index] = self.clock() + limit
            try:
                await self.run_one(tid)
            except asyncio.CancelledError:
                if not expired[index]:
                    raise
                task.uncancel()
                assert self.on_timeout is not None and limit is not None
                self.on_timeout(tid, limit)
            except Exception:
                log.exception("check of a target failed unexpectedly")
            finally:
                deadlines[index] = inf
                expired[index] = False
                self.inflight -= 1
                self.completed += 1
                now = self.clock()
                interval = self.intervals.get(tid)
                if interval is not None and tid not in self.live:
                    nxt = (due if due != NOW_PRIORITY else now) + interval
                    if nxt < now:
                        nxt = (
                            now + min(interval, 1.0) * 0.01
                        )  # far behind: run soon, not in a burst
                    self._push(tid, nxt)
            item = None if self.draining else self._take_due(now)
            if item is None and self.inflight == self.concurrency - 1:
                self._wake.set()  # a slot freed up while the dispatcher waited for one

    # ---- measurements -----------------------------------------------------------------------
    def lateness_percentiles(self) -> dict[str, float]:
        data = sorted(self.lateness)
        if not data:
            return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        pick = lambda q: data[min(len(data) - 1, int(q * len(data)))] * 1000  # noqa: E731
        return {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": data[-1] * 1000}

    def probe_rate(self) -> float:
        """Completed checks per second over the last few seconds."""
        now = time.monotonic()
        w = self._rate_window
        w.append((now, self.completed))
        while len(w) > 2 and now - w[0][0] > 10:
            w.popleft()
        t0, c0 = w[0]
        return (self.completed - c0) / (now - t0) if now > t0 else 0.0


class _Wake:
    """The dispatcher's alarm: `set` wakes it, `wait(timeout)` sleeps until then at most.

    asyncio.wait_for(event.wait(), t) made a task, a timer and a cancellation for every sleep of
    the dispatcher, which sleeps about once per check at a few thousand checks a second; this
    is one future and one timer handle. Event loop thread only."""

    __slots__ = ("flag", "fut")

    def __init__(self) -> None:
        self.flag = False
        self.fut: asyncio.Future[None] | None = None

    def set(self) -> None:
        self.flag = True
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def clear(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag

    async def wait(self, timeout: float | None = None) -> None:
        """Until `set` (returns at once when already set) or `timeout` seconds pass."""
        if self.flag:
            return
        loop = asyncio.get_running_loop()
        fut = self.fut = loop.create_future()
        timer = loop.call_later(timeout, _resolve, fut) if timeout is not None else None
        try:
            await fut
        finally:
            self.fut = None
            if timer is not None:
                timer.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Handoff:
    """A minimal FIFO between the dispatcher and idle workers (asyncio.Queue does more than we need
    on a path taken for every check)."""

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: deque[tuple[str, float]] = deque()
        self.waiters: deque[asyncio.Future[tuple[str, float]]] = deque()

    def put_nowait(self, item: tuple[str, float]) -> None:
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(item)
                return
        self.items.append(item)

    def get_nowait(self) -> tuple[str, float]:
        return self.items.popleft()

    async def get(self) -> tuple[str, float]:
        if self.items:
            return self.items.popleft()
        fut: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        return await fut
