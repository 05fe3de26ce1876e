"""The Targets table's model: one row per target, filtered and sorted, updated from events.

Applying 1,000 results a second is a dict lookup and a few assignments per event; the view is
re-sorted only when something the sort depends on changed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dfield
from typing import Any

from rich.text import Text

from screens.context import field
from screens.fmt import ago, metric_of, ms, pct, sparkline, state_text, value_text
from screens.virtual_table import Column

SPARK = 12
SORTS = ("state", "name", "latency")
STATE_ORDER = {
    "down": 0,
    "partial": 1,
    "degraded": 1,
    "pending": 2,
    "unknown": 3,
    "maintenance": 4,
    "paused": 5,
    "up": 6,
}
COLUMNS = (
    Column("State", 10),
    Column("Name", 0),
    Column("Kind", 9, drop=2),
    Column("Latency", 8, align="right"),
    Column("Checked", 8, align="right"),
    Column("Up 24h", 6, align="right", drop=3),
    Column("Recent", SPARK, drop=4),
)


@dataclass(slots=True)
class Row:
    id: str
    name: str
    kind: str
    state: str = "unknown"  # what is shown (maintenance and pause applied)
    probe_state: str = "unknown"  # what the probes say
    latency: float | None = None
    value: float | None = None  # system percent, TLS days left: shown instead of latency
    checked: float | None = None
    error: str | None = None
    uptime: float | None = None
    tags: tuple[str, ...] = ()
    spark: deque[float | None] = dfield(default_factory=lambda: deque(maxlen=SPARK))
    spark_loaded: bool = False
    version: int = 0
    haystack: str = ""
    owner: str = ""  # a subscriber's masked chat id; "" for the operator's own

    def touch(self) -> None:
        self.version += 1


def row_from(rec: Any, shown: str | None = None, owners: dict[str, str] | None = None) -> Row:
    state = field(rec, "state") or "unknown"
    tags = tuple(field(rec, "tags") or ())
    row = Row(
        id=field(rec, "id"),
        name=field(rec, "name") or "",
        kind=field(rec, "kind") or "",
        state=shown or ("paused" if field(rec, "paused") else state),
        probe_state=state,
        latency=field(rec, "last_latency_ms"),
        checked=field(rec, "last_check_at"),
        error=field(rec, "last_error_class"),
        tags=tags,
    )
    owner_id = field(rec, "owner_id")
    row.owner = (owners or {}).get(owner_id, "****") if owner_id else ""
    row.haystack = " ".join((row.name, row.kind, *tags)).lower()
    return row


def owner_matches(row: Row, wanted: str) -> bool:
    """`owner:1265` finds a subscriber's targets by the end of their chat id; `owner:operator`
    (or `owner:-`) the operator's own."""
    if wanted in ("operator", "-", "none"):
        return not row.owner
    return bool(row.owner) and wanted.lstrip("*") in row.owner


class TargetRows:
    """A `RowSource` for the VirtualTable."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.rows: dict[str, Row] = {}
        self.view: list[Row] = []
        self.index_of: dict[str, int] = {}
        self.sort = "state"
        self.filter = ""
        self.loaded = False
        self.owners: dict[str, str] = {}  # subscriber id -> masked chat id

    # ---- RowSource ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.view)

    def row_key(self, index: int) -> str:
        return self.view[index].id

    def row_version(self, index: int) -> int:
        return self.view[index].version

    def row_cells(self, index: int) -> Sequence[str | Text]:
        r = self.view[index]
        shows_value = metric_of(r.kind) == "value"
        over = r.error == "threshold" and shows_value and r.value is not None
        if r.error is not None and not over:
            latency = Text(r.error, style="red")
        elif shows_value:  # over its threshold, the value itself says most: 97% or 5d left
            latency = Text(value_text(r.kind)(r.value), style="red" if r.error else "")
        else:
            latency = Text(ms(r.latency))
        name: str | Text = r.name
        if r.owner:  # a subscriber's target: their masked chat id after the name
            name = Text(r.name)
            name.append(f" · {r.owner}", style="cyan")
        return (
            state_text(r.state, short=True),
            name,
            r.kind,
            latency,
            ago(r.checked, self.clock()),
            pct(r.uptime),
            sparkline(r.spark, SPARK),
        )

    # ---- loading ---------------------------------------------------------------------------------
    def load(
        self, records: Iterable[Any], shown: dict[str, str], uptimes: dict[str, float]
    ) -> None:
        rows: dict[str, Row] = {}
        for rec in records:
            row = row_from(rec, shown.get(field(rec, "id")), self.owners)
            row.uptime = uptimes.get(row.id)
            old = self.rows.get(row.id)
            if old is not None:
                row.spark, row.spark_loaded = old.spark, old.spark_loaded
            rows[row.id] = row
        self.rows = rows
        self.loaded = True
        self.rebuild()

    def upsert(self, rec: Any) -> None:
        row = row_from(rec, owners=self.owners)
        old = self.rows.get(row.id)
        if old is not None:
            row.spark, row.spark_loaded, row.uptime = old.spark, old.spark_loaded, old.uptime
            row.version = old.version + 1
            if old.kind == row.kind and row.value is None:
                row.value = old.value  # records carry no value; the last result event did
            if old.checked is not None and (row.checked is None or old.checked > row.checked):
                # A result event overtook this fetch (read in a worker thread): keep the newer
                # check, or the row would show the state before it until the next one.
                row.latency, row.checked, row.error = old.latency, old.checked, old.error
                row.probe_state = old.probe_state
                if row.state not in ("paused", "maintenance"):
                    row.state = old.state
            if old.state == "maintenance" and row.state != "paused":
                row.state = "maintenance"
        self.rows[row.id] = row
        self.rebuild()

    def remove(self, target_id: str) -> None:
        if self.rows.pop(target_id, None) is not None:
            self.rebuild()

    def set_uptimes(self, uptimes: dict[str, float]) -> None:
        for tid, row in self.rows.items():
            up = uptimes.get(tid)
            if up != row.uptime:
                row.uptime = up
                row.touch()

    def set_spark(self, target_id: str, results: list[Any]) -> None:
        row = self.rows.get(target_id)
        if row is None:
            return
        row.spark_loaded = True
        metric = metric_of(row.kind)
        older = [
            None if not field(r, "ok") else (field(r, metric) or 0.0) for r in reversed(results)
        ]
        if row.value is None and metric == "value":
            row.value = next(
                (field(r, "value") for r in results if field(r, "value") is not None), None
            )
        row.spark = deque([*older, *row.spark][-SPARK:], maxlen=SPARK)
        row.touch()

    def set_states(self, shown: dict[str, str]) -> None:
        for tid, state in shown.items():
            row = self.rows.get(tid)
            if row is not None and row.state != state:
                row.state = state
                row.touch()
        self.rebuild()

    # ---- events ---------------------------------------------------------------------------------
    def apply(self, events: Iterable[dict[str, Any]]) -> tuple[bool, set[str]]:
        """Apply engine events. Returns (view needs a re-sort, target ids to fetch again)."""
        resort = False
        fetch: set[str] = set()
        rows = self.rows
        for ev in events:
            kind = ev.get("type")
            if kind == "result":
                row = rows.get(ev["target_id"])
                if row is None:
                    fetch.add(ev["target_id"])
                    continue
                ok = ev.get("ok")
                row.latency = ev.get("latency_ms")
                if ev.get("value") is not None:
                    row.value = ev["value"]
                row.checked = ev.get("ts")
                row.error = None if ok else ev.get("error_class")
                point = row.value if metric_of(row.kind) == "value" else row.latency
                row.spark.append((point or 0.0) if ok else None)
                if ev.get("state") and ev["state"] != row.state:
                    row.state = ev["state"]
                    resort = True
                row.version += 1
                if self.sort == "latency":
                    resort = True
            elif kind == "state":
                row = rows.get(ev["target_id"])
                if row is not None:
                    row.probe_state = ev["new"]
            elif kind == "maintenance":
                row = rows.get(ev.get("target_id") or "")
                if row is not None and row.state != "paused":
                    row.state = "maintenance" if ev.get("active") else row.probe_state
                    row.touch()
                    resort = True
            elif kind == "targets":
                tid = ev.get("target_id")
                if not tid:
                    continue
                if ev.get("removed"):
                    if rows.pop(tid, None) is not None:
                        resort = True
                    fetch.discard(tid)
                else:
                    fetch.add(tid)
        return resort, fetch

    # ---- view -----------------------------------------------------------------------------------
    def rebuild(self) -> None:
        q = self.filter.strip().lower()
        rows: Iterable[Row] = self.rows.values()
        if q.startswith("owner:"):
            wanted, _, q = q[6:].partition(" ")
            rows = [r for r in rows if owner_matches(r, wanted)]
            q = q.strip()
        if q:
            rows = [r for r in rows if q in r.haystack or q in r.state]
        if self.sort == "name":
            view = sorted(rows, key=lambda r: r.name.lower())
        elif self.sort == "latency":
            view = sorted(
                rows, key=lambda r: (r.latency is None, -(r.latency or 0.0), r.name.lower())
            )
        else:
            view = sorted(rows, key=lambda r: (STATE_ORDER.get(r.state, 3), r.name.lower()))
        self.view = view
        self.index_of = {r.id: i for i, r in enumerate(view)}

    def next_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.rebuild()
        return self.sort

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows.values():
            out[r.state] = out.get(r.state, 0) + 1
        return out
