"""The orders the console and the CLI page through, kept beside the engine's records.

- name: every target by lower-cased name (then id), sorted again only when the set of records
  changed (an add, edit or remove replaces a record; a result changes one in place);
- state: one list per shown state, each in name order. The engine's state, maintenance and
  target events (a subscription that takes no result events) move just the targets they name
  from one list to another, so a state change costs two bisects, not a pass over 100,000;
- latency: one sort, made at most once a second and only when asked for;
- a filter: the matching part of an order, cached until that order changes.

A change the events do not describe target by target (a target added or removed, events
dropped) rebuilds everything from a copy of the records: at once while that is cheap, and never
for more than a fifth of the time (a 100,000-target pass takes 0.3 s).
"""

from __future__ import annotations

import bisect
import operator
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from engine.core.domain import TargetRecord
from engine.core.events import EventBus, MaintenanceEvent, StateEvent, Subscription

STATE_ORDER = (
    "down",
    "partial",
    "degraded",
    "pending",
    "unknown",
    "maintenance",
    "paused",
    "up",
)
Key = tuple[str, str]  # (lower-cased name, id): the name order


class Shown(Protocol):
    def __call__(self, rec: TargetRecord) -> str: ...


def _key(r: TargetRecord) -> Key:
    low = r.name.lower()
    return (r.name if low == r.name else low, r.id)  # no second copy of a lower-case name


class TargetViews:
    """Thread-safe: API requests call it from worker threads while the engine runs."""

    def __init__(
        self,
        records: Callable[[], Sequence[TargetRecord]],
        shown: Shown,
        events: EventBus | None = None,
        fresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records = records
        self.shown = shown
        self.fresh_s = fresh_s
        self._clock = clock
        self._lock = threading.RLock()
        self._sub: Subscription | None = None
        if events is not None:
            self._sub = events.subscribe(maxlen=50_000, types={"state", "maintenance", "targets"})
        self._dropped = 0
        self._full_at: float | None = None
        self._full_cost = 0.0
        self._need_full = True
        self.version = 0
        self.by_id: dict[str, TargetRecord] = {}
        self._snapshot: Sequence[TargetRecord] = ()
        self.names: list[TargetRecord] = []
        self._keys: list[Key] = []  # the name order's keys, beside `names`
        self._hay: dict[str, str] = {}  # id -> its tags, lower-cased (targets with tags only)
        self._state_of: dict[str, str] = {}
        self._buckets: dict[str, list[Key]] = {s: [] for s in STATE_ORDER}
        self._latency: tuple[float, list[TargetRecord]] | None = None
        self._filtered: dict[tuple[object, ...], list[TargetRecord]] = {}

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close()

    # ---- keeping up ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring the orders up to date with what happened since the last call."""
        with self._lock:
            now = self._clock()
            moved: set[str] = set()
            sub = self._sub
            if sub is None:
                self._need_full = True  # no events without an engine: the records say it all
            else:
                if sub.dropped != self._dropped:
                    self._dropped, self._need_full = sub.dropped, True
                while sub.buffer:
                    ev = sub.buffer.popleft()
                    tid = getattr(ev, "target_id", None)
                    if isinstance(ev, StateEvent | MaintenanceEvent) and tid:
                        moved.add(tid)
                    else:
                        self._need_full = True
            # A full pass that costs (over 50 ms) is put off while it would take more than a
            # fifth of the time since the last one (100,000 targets: 0.3 s at most every 1.5 s).
            wait = 4 * self._full_cost if self._full_cost > 0.05 else 0.0
            recent = self._full_at is not None and now - self._full_at < wait
            if self._need_full and not (recent and self.names):
                cpu = time.thread_time()
                self._full(now)
                self._full_cost = time.thread_time() - cpu  # CPU, not wall: a busy host
            else:
                for tid in moved:
                    self._move(tid)

    def _full(self, now: float) -> None:
        if self._sub is not None:
            self._sub.buffer.clear()  # the copy below already holds what they say
        recs = self._records()
        old = self._snapshot
        same = len(recs) == len(old) and all(map(operator.is_, recs, old))
        if not same:  # a target added, edited or removed: sort the names again
            keyed = sorted(((_key(r), r) for r in recs), key=operator.itemgetter(0))
            self._keys = [k for k, _ in keyed]
            self.names = [r for _, r in keyed]
            self.by_id = {r.id: r for r in recs}
            self._hay = {k[1]: " ".join(r.tags).lower() for k, r in keyed if r.tags}
            self._snapshot = recs
        shown = self.shown
        buckets: dict[str, list[Key]] = {s: [] for s in STATE_ORDER}
        state_of: dict[str, str] = {}
        for r, k in zip(self.names, self._keys, strict=True):
            s = shown(r)
            if s not in buckets:
                s = "unknown"
            buckets[s].append(k)
            state_of[k[1]] = s
        self._buckets, self._state_of = buckets, state_of
        self._full_at, self._need_full = now, False
        self._changed()

    def _move(self, tid: str) -> None:
        rec = self.by_id.get(tid)
        old = self._state_of.get(tid)
        if rec is None or old is None:
            self._need_full = True  # not one of ours yet: the next full pass places it
            return
        new = self.shown(rec)
        if new not in self._buckets:
            new = "unknown"
        if new == old:
            return
        key = _key(rec)
        b = self._buckets[old]
        i = bisect.bisect_left(b, key)
        if i < len(b) and b[i] == key:
            del b[i]
        bisect.insort(self._buckets[new], key)
        self._state_of[tid] = new
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._filtered.clear()

    # ---- reading ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {s: len(b) for s, b in self._buckets.items() if b}

    def order(self, sort: str) -> list[TargetRecord]:
        """Every target in `sort` order (a new list for state; shared lists otherwise)."""
        with self._lock:
            if sort == "name":
                return self.names
            if sort == "latency":
                now = self._clock()
                cached = self._latency
                if cached is None or now - cached[0] > self.fresh_s:
                    cached = self._latency = (
                        now,
                        sorted(
                            self.names,
                            key=lambda r: (r.last_latency_ms is None, -(r.last_latency_ms or 0.0)),
                        ),
                    )
                return cached[1]
            by_id = self.by_id
            return [by_id[k[1]] for s in STATE_ORDER for k in self._buckets[s] if k[1] in by_id]

    def position(self, sort: str, tid: str) -> int | None:
        """Where target `tid` stands in an unfiltered order (None when it is not there)."""
        with self._lock:
            rec = self.by_id.get(tid)
            if rec is None:
                return None
            if sort == "name":
                i = bisect.bisect_left(self._keys, _key(rec))
                return i if i < len(self._keys) and self._keys[i][1] == tid else None
            if sort == "state":
                s = self._state_of.get(tid)
                if s is None:
                    return None
                before = 0
                for state in STATE_ORDER:
                    if state == s:
                        break
                    before += len(self._buckets[state])
                b = self._buckets[s]
                i = bisect.bisect_left(b, _key(rec))
                return before + i if i < len(b) and b[i][1] == tid else None
            return index_of(self.order(sort), tid)

    def window(self, sort: str, offset: int, limit: int) -> list[TargetRecord]:
        """A slice of an order without a filter; the state order without building it whole."""
        with self._lock:
            if sort != "state":
                return self.order(sort)[offset : offset + limit]
            out: list[TargetRecord] = []
            for s in STATE_ORDER:
                b = self._buckets[s]
                if offset >= len(b):
                    offset -= len(b)
                    continue
                out += (self.by_id[k[1]] for k in b[offset : offset + limit - len(out)])
                offset = 0
                if len(out) >= limit:
                    break
            return out

    def matching(self, sort: str, query: str, owners: str) -> list[TargetRecord]:
        """An order under a filter: name, kind, tag or shown state containing `query`; `owners`
        "-" keeps the operator's own targets, else a comma-separated list of subscriber ids."""
        q = query.strip().lower()
        with self._lock:
            stamp = self._latency[0] if sort == "latency" and self._latency else None
            key = (sort, q, owners, stamp)
            got = self._filtered.get(key)
            if got is not None:
                return got
            rows = self._filter(sort, q, owners)
            if len(self._filtered) > 32:
                self._filtered.clear()
            self._filtered[key] = rows
            return rows

    def _filter(self, sort: str, q: str, owners: str) -> list[TargetRecord]:
        """One pass in `sort` order: the lower-cased names are the order's keys and the tags are
        kept lower-cased, so nothing is lower-cased per keystroke in the state and name orders."""
        by_id, state_of, hay = self.by_id, self._state_of, self._hay
        wanted = set(owners.split(",")) if owners and owners != "-" else None

        def ok(k: Key) -> bool:
            tid = k[1]
            if owners:
                owner = by_id[tid].owner_id
                if owner is not None if wanted is None else owner not in wanted:
                    return False
            return (
                not q
                or q in k[0]
                or q in by_id[tid].kind
                or q in state_of.get(tid, "")
                or q in hay.get(tid, "")
            )

        if sort == "state":
            return [by_id[k[1]] for s in STATE_ORDER for k in self._buckets[s] if ok(k)]
        if sort == "name":
            return [by_id[k[1]] for k in self._keys if ok(k)]
        return [r for r in self.order(sort) if ok(_key(r))]


def index_of(rows: Sequence[TargetRecord], tid: str) -> int | None:
    """The position of target `tid` in `rows` (by id: records compare by value), or None."""
    return next((i for i, r in enumerate(rows) if r.id == tid), None)
