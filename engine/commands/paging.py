"""Targets a window at a time: what the console shows, what `status` and `target list` stream.

At 100,000 targets nobody reads every row at once: the console draws forty, the CLI prints a page
while it fetches the next. `target_page` answers one window of the targets in an order (state,
name or latency) and under a filter, with the number that match and the count per shown state.

The orders are views over the running engine's own records (the ones its results update), built
at most once a second per order and shared by every caller meanwhile: the state order is one pass
over the name order (itself re-sorted only when a name, or the set of targets, changed); the
latency order one sort. A window is then a slice. The row contents are read from the records at
answer time, so a window always shows the latest result even when its order is a second old.
Without an engine the same views are built over the stored targets.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Mapping
from typing import Annotated, Any, cast

from pydantic import Field

from engine.commands.base import CommandBase
from engine.commands.target_views import TargetViews, index_of
from engine.core.domain import STATE_SYMBOLS, TargetRecord
from engine.core.errors import BadInput
from engine.core.limits import REF_MAX, check_text
from engine.core.spec_secrets import mask_spec

SORTS = ("state", "name", "latency")
PAGE_MAX = 25_000  # rows a page may hold: `status` asks 8 fields of 25,000 at a time
# ids per target_uptimes call: they travel in a query string, which the HTTP server bounds
# (16 kB, and a non-ASCII character is 12 bytes URL-encoded); a console asks a window in two.
UPTIME_IDS = 100
QUERY_MAX = REF_MAX
Limit = Annotated[int, Field(ge=1, le=PAGE_MAX)]
Offset = Annotated[int, Field(ge=0)]
Query = Annotated[str, Field(max_length=QUERY_MAX)]


_PLAIN = frozenset(
    [
        "id",
        "name",
        "kind",
        "interval_s",
        "timeout_s",
        "owner_id",
        "parent_id",
        "failure_threshold",
        "recovery_threshold",
        "paused",
        "declared",
        "created_at",
        "state",
        "state_since",
        "next_due",
        "last_check_at",
        "last_latency_ms",
        "last_error_class",
        "fail_streak",
        "ok_streak",
        "flapping",
        "hb_state",
    ]
)


def _some_of(
    rec: TargetRecord, keep: list[str], shown: Any, values: Mapping[str, float]
) -> dict[str, Any]:
    """Just the fields asked for, when each is a plain attribute (or shown, value)."""
    out: dict[str, Any] = {}
    for k in keep:
        if k == "shown":
            out[k] = shown(rec)
        elif k == "value":
            out[k] = values.get(rec.id)
        else:
            out[k] = getattr(rec, k)
    return out


def _columns(
    window: list[TargetRecord], keep: list[str], shown: Any, values: Mapping[str, float]
) -> dict[str, list[Any]]:
    """One list per field, each made by map() over the window: C-speed passes, so the request
    holds the interpreter (shared with the probing loop) for milliseconds, not a second."""
    cols: dict[str, list[Any]] = {}
    for k in keep:
        if k == "shown":
            cols[k] = list(map(shown, window))
        elif k == "value":
            cols[k] = [values.get(r.id) for r in window]
        else:
            cols[k] = list(map(operator.attrgetter(k), window))
    return cols


def row_of(rec: TargetRecord, shown: str, value: float | None, ping_base: str) -> dict[str, Any]:
    """A target as a page carries it: the record's public fields (`state` is the probe state,
    as `target list --json` prints it), the shown state and the last measured value."""
    d = {
        "id": rec.id,
        "name": rec.name,
        "kind": rec.kind,
        "spec": mask_spec(rec.spec_text),  # a password shows as ***
        "interval_s": rec.interval_s,
        "timeout_s": rec.timeout_s,
        "tags": list(rec.tags),
        "conditions": list(rec.conditions),
        "options": dict(rec.options),
        "owner_id": rec.owner_id,
        "parent_id": rec.parent_id,
        "failure_threshold": rec.failure_threshold,
        "recovery_threshold": rec.recovery_threshold,
        "paused": rec.paused,
        "declared": rec.declared,
        "locations": list(rec.locations),
        "quorum": rec.quorum,
        "created_at": rec.created_at,
        "state": rec.state,
        "state_since": rec.state_since,
        "next_due": rec.next_due,
        "last_check_at": rec.last_check_at,
        "last_latency_ms": rec.last_latency_ms,
        "last_error_class": rec.last_error_class,
        "fail_streak": rec.fail_streak,
        "ok_streak": rec.ok_streak,
        "flapping": rec.flapping,
        "hb_state": rec.hb_state,
        "symbol": STATE_SYMBOLS.get(rec.state, "?"),
        "shown": shown,
        "value": value,
    }
    if rec.kind == "heartbeat" and rec.token:
        d["ping_url"] = f"{ping_base.rstrip('/')}/ping/{rec.token}"
    return d


class TargetPaging(CommandBase):
    """`target_page`: one window of the targets, for the console, `status` and `target list`."""

    _views: TargetViews | None = None
    _views_lock = threading.Lock()

    def _target_views(self) -> TargetViews:
        views = self._views
        if views is not None:
            return views
        with TargetPaging._views_lock:
            if self._views is None:
                live = self.hooks
                if live.events is not None:  # an engine: its records, kept up by its events
                    self._views = TargetViews(self._engine_records, live.display_state, live.events)
                else:
                    self._views = TargetViews(self._stored_records, self._stored_shown)
            return self._views

    def _engine_records(self) -> list[TargetRecord]:
        """The engine's records; the stored ones while it holds none (an engine that has not
        loaded yet, or one driven without running: the screen must not stay empty)."""
        return self.hooks.snapshot() or list(_iter_stored(self.store))

    def _stored_records(self) -> list[TargetRecord]:
        """Without an engine: the stored targets, and their shown states read with them."""
        self._stored_states_now = self.target_states()  # type: ignore[attr-defined]
        return list(_iter_stored(self.store))

    def _stored_shown(self, rec: TargetRecord) -> str:
        return cast(str, self._stored_states_now.get(rec.id, rec.state))

    def target_page(
        self,
        sort: str = "state",
        query: Query = "",
        offset: Offset = 0,
        limit: Limit = 100,
        after: Query | None = None,
        owners: Query = "",
        fields: Query = "",
        around: Query | None = None,
        columns: bool = False,
    ) -> dict[str, Any]:
        """Targets `offset` to `offset + limit` in `sort` order (state, name, latency) among those
        matching `query`; or, with `after` (the `next` of the page before), the ones after it, so
        a reader walking every page meets each target once even while targets are added.
        Answers the window's rows, `total` matching, `counts` per shown state of all targets, and
        `next` (None on the last page). `fields` (comma-separated) keeps only those of each row:
        `status` wants seven of thirty. With `around` (a target id) the window holds that target
        (a third of the way down) and `index` says where it stands: the console keeps its cursor
        on the target it was on when the order or the filter changes. With `columns` (and only
        plain `fields`) the window comes as `columns`, one list per field, and `rows` is empty:
        no dict per target on either side, which at 100,000 is most of what `status` costs."""
        if sort not in SORTS:
            raise BadInput(f"sort {sort!r} is not one of {', '.join(SORTS)}", "e.g. sort=name")
        query = check_text(query, "query", QUERY_MAX, empty_ok=True, strip=False)
        views = self._target_views()
        views.refresh()
        index = None
        if query or owners:
            rows = views.matching(sort, query, owners)
            total = len(rows)
            if around:
                index = index_of(rows, around)
            elif after:
                offset = _after(rows, sort, after, views)
        else:
            rows = None
            total = len(views.by_id)
            if around:
                index = views.position(sort, around)
            elif after:
                offset = _after(views.order(sort), sort, after, views)
        if index is not None:
            offset = max(0, min(index - limit // 3, total - limit))
        window = (
            rows[offset : offset + limit] if rows is not None else views.window(sort, offset, limit)
        )
        values = self._last_values()
        shown = views.shown
        keep = [f for f in fields.split(",") if f]
        plain = bool(keep) and all(k in _PLAIN or k in ("shown", "value") for k in keep)
        cols: dict[str, list[Any]] | None = None
        if columns:
            if not plain:
                raise BadInput(
                    "columns needs fields, each a plain one (or shown, value)",
                    f"e.g. fields=id,name,shown; plain: {', '.join(sorted(_PLAIN))}",
                )
            cols = _columns(window, keep, shown, values)
            out: list[dict[str, Any]] = []
        elif plain:
            out = [_some_of(r, keep, shown, values) for r in window]  # status: 8 of 30, fast
        else:
            base = self.ping_base
            out = [row_of(r, shown(r), values.get(r.id), base) for r in window]
            if keep:
                out = [{k: row[k] for k in keep if k in row} for row in out]
        more = offset + limit < total
        return {
            "sort": sort,
            "offset": offset,
            "total": total,
            "all": len(views.by_id),
            "counts": views.counts(),
            "rows": out,
            **({"columns": cols} if cols is not None else {}),
            "next": window[-1].id if more and window else None,
            "index": index,
        }

    def target_uptimes(
        self,
        ids: Annotated[str, Field(max_length=UPTIME_IDS * 10)],
        seconds: float = 86400,
        now: float | None = None,
    ) -> dict[str, float]:
        """Uptime over the last `seconds` of the targets named (comma-separated ids): the rows a
        console shows, never the whole table. `now` (in-process only: the console's clock)."""
        from engine.core.limits import EPOCH, SERIES_SECONDS, check_number
        from engine.store.uptimes import uptime_of

        wanted = [i for i in ids.split(",") if i][:UPTIME_IDS]
        at = check_number(now, "now", EPOCH) if now is not None else None
        return uptime_of(self.store, wanted, check_number(seconds, "seconds", SERIES_SECONDS), at)

    def _last_values(self) -> Mapping[str, float]:
        """The last value of each target measuring one (system percent, TLS days): the engine
        keeps them; the store has them only in the results."""
        return self.hooks.last_values


def _after(rows: list[TargetRecord], sort: str, cursor: str, views: TargetViews) -> int:
    """Where the page after `cursor` (the id `next` named) starts. In name order the position
    follows from the name, so a walk over every page neither repeats nor skips a target."""
    import bisect

    rec = views.by_id.get(cursor)
    if sort == "name" and rec is not None:
        key = (rec.name.lower(), rec.id)
        return bisect.bisect_right(rows, key, key=lambda r: (r.name.lower(), r.id))
    for i, r in enumerate(rows):
        if r.id == cursor:
            return i + 1
    raise BadInput(
        f"cursor {cursor!r} is no longer in this order",
        "start again without `after` (the target was removed, or sort/query changed)",
    )


def _iter_stored(store: Any) -> Any:
    from engine.store.target_batch import iter_all

    return iter_all(store)
