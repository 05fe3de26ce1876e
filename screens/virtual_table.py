"""A keyboard-driven table that renders only the rows on screen (Textual's Line API).

Modelled on Toolong's LogLines: a `ScrollView` whose `render_line` asks a row source for the one
row it draws and keeps rendered strips in an LRU cache keyed by the row's key and version. Nothing
is measured per row, so first paint and key handling cost the same at 10 rows or 100,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # fixed cells; 0 = takes the room left over
    align: str = "left"
    drop: int = 0  # when narrow, the highest `drop` goes first; 0 never drops


class RowSource(Protocol):
    def __len__(self) -> int: ...
    def row_key(self, index: int) -> str: ...
    def row_version(self, index: int) -> int: ...
    def row_cells(self, index: int) -> Sequence[str | Text]: ...


class VirtualTable(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    COMPONENT_CLASSES = {
        "vtable--header",
        "vtable--cursor",
        "vtable--cursor-blurred",
        "vtable--empty",
    }
    DEFAULT_CSS = """
    VirtualTable { overflow-x: hidden; overflow-y: auto; height: 1fr; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; }
    VirtualTable > .vtable--cursor { background: $accent; color: $text; text-style: bold; }
    VirtualTable > .vtable--cursor-blurred { background: $accent 40%; }
    VirtualTable > .vtable--empty { color: $text-muted; text-style: italic; }
    """

    class Highlighted(Message):
        def __init__(self, table: VirtualTable, index: int, key: str | None) -> None:
            super().__init__()
            self.table, self.index, self.key = table, index, key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Selected(Message):
        def __init__(self, table: VirtualTable, index: int, key: str) -> None:
            super().__init__()
            self.table, self.index, self.key = table, index, key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        source: RowSource,
        empty: str = "Nothing here.",
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.source = source
        self.empty = empty
        self.cursor = 0
        self.tick = 0  # bumped by the owner when time-dependent cells (ages) should redraw
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._layouts: dict[int, list[tuple[int, int]]] = {}

    # ---- the owner's API -------------------------------------------------------------------------
    def rows_changed(
        self, keep_key: str | None = None, index_of: dict[str, int] | None = None
    ) -> None:
        """The source changed: resize, keep the cursor on `keep_key` if it is still there, redraw."""
        n = len(self.source)
        if keep_key is not None and index_of is not None and keep_key in index_of:
            self.cursor = index_of[keep_key]
        self.cursor = max(0, min(self.cursor, n - 1))
        self.virtual_size = Size(0, n + 1)
        self._scroll_to_cursor()
        self.refresh()

    def redraw(self, tick: bool = False) -> None:
        if tick:
            self.tick += 1
        self.refresh()

    @property
    def cursor_key(self) -> str | None:
        if 0 <= self.cursor < len(self.source):
            return self.source.row_key(self.cursor)
        return None

    def visible_range(self) -> range:
        top = int(self.scroll_offset.y)
        rows = max(0, self.scrollable_content_region.height - 1)
        return range(top, min(len(self.source), top + rows))

    # ---- keys ---------------------------------------------------------------------------------
    def _move(self, index: int) -> None:
        n = len(self.source)
        new = max(0, min(index, n - 1))
        if new != self.cursor:
            self.cursor = new
            self._scroll_to_cursor()
            self.refresh()
        self.post_message(self.Highlighted(self, self.cursor, self.cursor_key))

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(1, self.scrollable_content_region.height - 2))

    def action_edge(self, end: int) -> None:
        self._move(len(self.source) - 1 if end else 0)

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Selected(self, self.cursor, key))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._move(int(self.scroll_offset.y) + event.y - 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ---- rendering --------------------------------------------------------------------------------
    def _layout(self, width: int) -> list[tuple[int, int]]:
        """(column index, width) pairs that fit; droppable columns go first when narrow."""
        cached = self._layouts.get(width)
        if cached is not None:
            return cached
        keep = list(range(len(self.columns)))
        while True:
            fixed = sum(self.columns[i].width for i in keep) + len(keep)
            flex = [i for i in keep if not self.columns[i].width]
            room = width - fixed
            droppable = [i for i in keep if self.columns[i].drop]
            if room >= 12 * max(1, len(flex)) or not droppable:
                break
            keep.remove(max(droppable, key=lambda i: self.columns[i].drop))
        share = max(1, room // max(1, len(flex))) if flex else 0
        out = [(i, self.columns[i].width or share) for i in keep]
        self._layouts[width] = out
        return out

    def _strip(self, cells: Sequence[str | Text], width: int) -> Strip:
        line = Text(" ", no_wrap=True, end="")
        for i, w in self._layout(width - 1):
            cell = cells[i] if i < len(cells) else ""
            t = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            t.truncate(w, overflow="ellipsis")
            pad = " " * (w - t.cell_len)
            if self.columns[i].align == "right":
                line.append(pad)
                line.append_text(t)
            else:
                line.append_text(t)
                line.append(pad)
            line.append(" ")
        segments = list(line.render(self.app.console))
        return Strip(segments).adjust_cell_length(width)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            key: tuple[object, ...] = ("header", width)
            strip = self._cache.get(key)
            if strip is None:
                style = self.get_component_rich_style("vtable--header")
                strip = self._strip([c.title for c in self.columns], width).apply_style(style)
                self._cache[key] = strip
            return strip.apply_style(base)
        n = len(self.source)
        if n == 0:
            if y == 2:
                style = self.get_component_rich_style("vtable--empty")
                return (
                    Strip([Segment("  " + self.empty, style)])
                    .adjust_cell_length(width)
                    .apply_style(base)
                )
            return Strip.blank(width, base)
        index = int(self.scroll_offset.y) + y - 1
        if index >= n:
            return Strip.blank(width, base)
        selected = index == self.cursor
        focused = self.has_focus
        key = (
            self.source.row_key(index),
            self.source.row_version(index),
            self.tick,
            width,
            selected,
            focused,
        )
        strip = self._cache.get(key)
        if strip is None:
            strip = self._strip(self.source.row_cells(index), width)
            if selected:
                name = "vtable--cursor" if focused else "vtable--cursor-blurred"
                strip = strip.apply_style(self.get_component_rich_style(name))
            self._cache[key] = strip
        return strip.apply_style(base)
