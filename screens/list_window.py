"""A long list a window at a time: History, Alerts and Maintenance hold the rows they show.

As the Targets screen (screens/target_pages.py), a screen over 100,000 events or 20,000 incidents
asks the engine for a window of its order (`history_page`, `incident_page`, `maintenance_page`:
offset, limit, the number matching) and draws the rest of the list as placeholders until the
window there arrives. Keys move over the whole list at once (End is the last row of 100,000);
the window follows the rows in view. Live changes mark the window stale: it is asked again at
most once a second while the screen shows, so only the rows in view (and the counts) refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import on

from screens.base import EngineScreen
from screens.messages import EngineEvents
from screens.virtual_table import VirtualTable

WINDOW = 120  # rows asked for at a time: a few screens above and below the one shown
MARGIN = 30  # ask again when the rows shown come this close to the edge of the window
PLACEHOLDER = Text("…", style="dim")
REFRESH_S = 1.0  # live changes reach the window at most this often


class WindowRows:
    """A `RowSource` over a window of a list the engine orders; `view` holds the window."""

    def __init__(
        self, key: Callable[[Any], str], cells: Callable[[Any], Sequence[str | Text]]
    ) -> None:
        self.key, self.cells = key, cells
        self.view: list[Any] = []
        self.offset = 0  # index of view[0] in the whole list
        self.total = 0  # rows matching
        self.loaded = False
        self.version = 0  # bumped by each window: a row read again redraws
        self.index_of: dict[str, int] = {}
        self.on_miss: Callable[[int], None] | None = None  # a row outside the window was drawn

    def __len__(self) -> int:
        return self.total

    def local(self, index: int) -> Any | None:
        i = index - self.offset
        return self.view[i] if 0 <= i < len(self.view) else None

    def row_key(self, index: int) -> str:
        row = self.local(index)
        return self.key(row) if row is not None else f"\0{index}"

    def row_version(self, index: int) -> int:
        return self.version if self.local(index) is not None else -1

    def row_cells(self, index: int) -> Sequence[str | Text]:
        row = self.local(index)
        if row is None:
            if self.on_miss is not None:
                self.on_miss(index)
            return (PLACEHOLDER, "")
        return self.cells(row)

    def by_key(self, key: str | None) -> Any | None:
        """The held row with this key (what an action acts on), None when not held."""
        i = self.index_of.get(key or "\0")
        return None if i is None else self.view[i - self.offset]

    def covers(self, first: int, last: int) -> bool:
        """Whether rows first..last are held, with MARGIN to spare where the list goes on."""
        lo = self.offset if self.offset == 0 else self.offset + MARGIN
        end = self.offset + len(self.view)
        hi = end if end >= self.total else end - MARGIN
        return lo <= first and last < hi

    def load(self, offset: int, total: int, rows: Sequence[Any]) -> None:
        self.view, self.offset, self.total = list(rows), offset, total
        self.loaded = True
        self.version += 1
        self.index_of = {}
        for i, row in enumerate(self.view):
            self.index_of.setdefault(self.key(row), offset + i)


class WindowedScreen(EngineScreen):
    """An EngineScreen whose table shows a `WindowRows`: subclasses say how a window is asked
    (`fetch_window`, in a worker thread) and what follows its arrival (`window_loaded`)."""

    TABLE_ID = ""
    RELOAD_ON: frozenset[str] = frozenset()
    AROUND = False  # the page command takes `around` (the order can move a row)

    def __init__(self) -> None:
        super().__init__()
        self.rows = WindowRows(self.row_key, self.row_cells)
        self.rows.on_miss = self._missed
        self.asked = 0  # windows asked of the engine (tests count rows fetched, not time)
        self.rows_asked = 0
        self._asking = False
        self._again: tuple[int, str | None] | None = None  # wished for while one was out
        self._generation = 0  # a new filter makes windows still in flight stale
        self._stale = False  # something changed: the window is asked again on the next tick
        self._reset = False  # the next window starts a new filter: cursor at its top
        self._follow_due = False  # rows not held were drawn: the window follows them next

    # ---- subclasses ---------------------------------------------------------------------------
    def row_key(self, row: Any) -> str:
        raise NotImplementedError

    def row_cells(self, row: Any) -> Sequence[str | Text]:
        raise NotImplementedError

    def fetch_window(self, offset: int, limit: int, around: str | None) -> Any:
        """In a worker thread: the command's page (offset, total, rows); `around` (a row's key,
        only when `AROUND`) asks for the window holding that row, wherever it is now."""
        raise NotImplementedError

    def window_loaded(self, page: Any) -> None:
        """On the event loop, after the rows changed: info lines, empty text, details."""

    def window_failed(self, exc: BaseException) -> None:
        from screens.fmt import error_sentence

        self.table.empty = error_sentence(exc)
        self.table.rows_changed()
        self.notify(error_sentence(exc), severity="error")

    # ---- the table ------------------------------------------------------------------------------
    @property
    def table(self) -> VirtualTable:
        return self.query_one("#" + self.TABLE_ID, VirtualTable)

    @property
    def selected(self) -> Any | None:
        return self.rows.by_key(self.table.cursor_key)

    def on_mount(self) -> None:
        # Textual calls each class's on_mount (EngineScreen's too): a subclass adds its own
        # without calling this one again.
        self.table.focus()
        self.reload(new=True)
        self.set_interval(REFRESH_S, self._tick)

    def on_screen_resume(self) -> None:
        if self._stale:
            self.reload()

    # ---- loading --------------------------------------------------------------------------------
    def reload(self, offset: int | None = None, new: bool = False) -> None:
        """Ask for the window at `offset`, or (by default) the one held read again: around the
        row under the cursor where the command can place it (`AROUND`: a change of state moves
        an incident down the list, and the cursor goes with it). `new` (a filter changed): from
        the top, with the cursor on the first row."""
        self._stale = False
        around = None
        if new:
            self._generation += 1
            self._reset, self._again, offset = True, None, 0
            self._asking = False  # an answer still out is for the old filter: it is dropped
        if offset is None:
            offset = self.rows.offset
            if self.AROUND and self.selected is not None:
                around = self.table.cursor_key
        if self._asking:
            self._again = (offset, around)
            return
        self._asking = True
        gen = self._generation
        limit = self.window_size()
        self.asked += 1
        self.rows_asked += limit
        self.call_fn(
            self.fetch_window,
            max(0, offset),
            limit,
            around,
            then=lambda page: self._loaded(page, gen),
            fail=lambda exc: self._failed(exc, gen),
        )

    def _loaded(self, page: Any, gen: int) -> None:
        if gen != self._generation:
            return
        self._asking = False
        keep = None if self._reset else self.table.cursor_key
        if self._reset:
            self.table.cursor, self._reset = 0, False
        self.rows.load(int(page["offset"]), int(page["total"]), page["rows"])
        self.table.rows_changed(keep, self.rows.index_of)
        self.window_loaded(page)
        if self._again is not None:
            (offset, around), self._again = self._again, None
            if around is not None and around == self.table.cursor_key:
                self.reload()  # read again, around the cursor's row as it is now
            else:
                self.reload(offset)
        else:
            self._follow()

    def _failed(self, exc: BaseException, gen: int) -> None:
        if gen != self._generation:
            return
        self._asking, self._again = False, None
        self.window_failed(exc)

    def _missed(self, index: int) -> None:
        """A row outside the window was drawn (PgDn, End, a scroll): once the drawing is done,
        the window moves to the rows in view (a window already asked for moves it after)."""
        if not self._asking and not self._follow_due:
            self._follow_due = True
            self.call_later(self._follow)

    def window_size(self) -> int:
        """WINDOW rows, or three screens on a terminal taller than a third of it: the rows in
        view and MARGIN either side always fit in one window."""
        return max(WINDOW, 3 * self.table.scrollable_content_region.height)

    def _follow(self) -> None:
        """The rows in view near the window's edge: the window moves with them."""
        self._follow_due = False
        vis = self.table.visible_range()
        if len(vis) and not self.rows.covers(vis.start, vis.stop - 1):
            # A third of the window above the rows in view, and a full window at the end.
            limit = self.window_size()
            offset = max(0, min(vis.start - limit // 3, self.rows.total - limit))
            held = self.rows.offset + len(self.rows.view)
            if offset != self.rows.offset or (
                len(self.rows.view) < limit and held < len(self.rows)
            ):
                self.reload(offset)  # (never the same window read again: no loop)

    @on(VirtualTable.Highlighted)
    def _moved(self, event: VirtualTable.Highlighted) -> None:
        if self.rows.loaded:
            self._follow()

    # ---- live -------------------------------------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        if message.types() & self.RELOAD_ON and self.follows_changes():
            self._stale = True

    def follows_changes(self) -> bool:
        """Whether a change can reach the rows shown (a window of the past cannot)."""
        return True

    def _tick(self) -> None:
        if self._stale and self.is_current:
            self.reload()
