"""The Targets table's rows a window at a time: what is on screen, asked from the engine.

At 100,000 targets the console holds the few hundred rows around what it shows, not the store:
the engine answers a window of its order (`target_page`: sort, filter, offset, with the number
matching), and the table asks for another when it scrolls past the one it holds. Rows outside
the window draw as a dim placeholder for the moment the next window takes to come. Results for
rows in the window update them live, as before; the order itself is asked again every second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.text import Text

from screens.target_rows import Row, TargetRows, row_from

WINDOW = 200  # rows asked for at a time: a few screens above and below the one shown
MARGIN = 40  # ask again when the rows shown come this close to the edge of the window
PLACEHOLDER = Text("…", style="dim")


class PagedRows(TargetRows):
    """A `RowSource` over a window of the engine's order; `view` is the window's rows."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self.offset = 0  # index of view[0] in the whole order
        self.total = 0  # targets matching the filter
        self.all = 0  # targets in all
        self.counts: dict[str, int] = {}
        self.on_miss: Callable[[int], None] | None = None  # a row outside the window was drawn

    # ---- RowSource ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.total

    def _local(self, index: int) -> int | None:
        i = index - self.offset
        return i if 0 <= i < len(self.view) else None

    def row_key(self, index: int) -> str:
        i = self._local(index)
        return self.view[i].id if i is not None else f"\0{index}"

    def row_version(self, index: int) -> int:
        i = self._local(index)
        return self.view[i].version if i is not None else -1

    def row_cells(self, index: int) -> Sequence[str | Text]:
        i = self._local(index)
        if i is None:
            if self.on_miss is not None:
                self.on_miss(index)
            return (PLACEHOLDER, "")
        return super().row_cells(i)

    def holds(self, key: str | None) -> bool:
        return key is not None and key in self.rows

    def covers(self, first: int, last: int) -> bool:
        """Whether the rows first..last are in the window, with MARGIN to spare where the
        order goes on beyond it."""
        lo = self.offset if self.offset == 0 else self.offset + MARGIN
        end = self.offset + len(self.view)
        hi = end if end >= self.total else end - MARGIN
        return lo <= first and last < hi

    # ---- loading ------------------------------------------------------------------------------
    def load_page(self, page: dict[str, Any], uptimes: dict[str, float] | None = None) -> None:
        """Take a window from `target_page`, keeping what the rows already had (sparklines,
        uptimes, a value from a result event) for targets that were in the window before."""
        rows: dict[str, Row] = {}
        view: list[Row] = []
        for rec in page["rows"]:
            row = row_from(rec, rec.get("shown"), self.owners)
            if rec.get("value") is not None:
                row.value = rec["value"]
            old = self.rows.get(row.id)
            if old is not None:
                _refresh(old, row)  # the same Row object: whoever holds it sees the update
                row = old
            if uptimes is not None and row.id in uptimes:
                row.uptime = uptimes[row.id]
            rows[row.id] = row
            view.append(row)
        self.rows, self.view = rows, view
        self.offset = int(page["offset"])
        self.total = int(page["total"])
        self.all = int(page.get("all", self.total))
        self.counts = dict(page.get("counts") or {})
        self.loaded = True
        self._index()

    def _index(self) -> None:
        self.index_of = {r.id: self.offset + i for i, r in enumerate(self.view)}

    # ---- local changes between two windows (the next window corrects the order) ---------------
    def rebuild(self) -> None:
        """Re-sort the window in place after a change made here (a pause, an edit): the engine's
        next window has the true order; meanwhile the row does not jump out of sight."""
        self._index()

    def upsert(self, rec: Any) -> None:
        row = row_from(rec, owners=self.owners)
        old = self.rows.get(row.id)
        if old is None:
            return  # not in the window: the next window places it
        super().upsert(rec)
        self.view = [self.rows[r.id] for r in self.view]
        self._index()

    def remove(self, target_id: str) -> None:
        if self.rows.pop(target_id, None) is not None:
            self.view = [r for r in self.view if r.id != target_id]
            self.total = max(0, self.total - 1)
            self._index()

    def apply(self, events: Iterable[dict[str, Any]]) -> tuple[bool, set[str]]:
        """Results for rows in the window update them; the rest is the engine's business. Says
        (the order may have changed, nothing to fetch one by one): a result for a target not
        held changes nothing here, a target added or changed is in the next window."""
        events = list(events)
        resort, _ = super().apply(events)
        if len(self.view) != len(self.rows):  # a target removed from the window
            kept = [r for r in self.view if r.id in self.rows]
            self.total = max(0, self.total - (len(self.view) - len(kept)))
            self.view = kept
            self._index()
        changed = any(e.get("type") == "targets" for e in events)
        return resort or changed, set()


def _refresh(old: Row, new: Row) -> None:
    """Bring a held row up to a newer window's record, unless a result event has overtaken that
    window (it was read in a worker thread): then the newer check stays, as `upsert` does."""
    overtaken = old.checked is not None and (new.checked is None or old.checked > new.checked)
    before = (old.state, old.latency, old.checked, old.error, old.name, old.owner, old.tags)
    old.name, old.kind, old.tags, old.owner = new.name, new.kind, new.tags, new.owner
    old.haystack = new.haystack
    if new.value is not None:
        old.value = new.value
    if not overtaken:
        old.state, old.probe_state = new.state, new.probe_state
        old.latency, old.checked, old.error = new.latency, new.checked, new.error
    elif new.state in ("paused", "maintenance") or old.state in ("paused", "maintenance"):
        old.state = new.state  # pause and maintenance come from the window, not from results
    if (old.state, old.latency, old.checked, old.error, old.name, old.owner, old.tags) != before:
        old.touch()
