"""A DataTable refilled as a whole whose cursor follows its row, not its position.

Lists reload on engine events and timers while the operator reads them; rows arrive above the
cursor, leave, or re-sort. Keeping the cursor on the same row *index* then puts it on another
item, and the next key press acts on that one. Here the cursor stays on the same row *key*
(and the row keeps its place on screen); only when that row has gone does it stay at the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable


def _width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


class KeyedTable(DataTable[Any]):
    @property
    def cursor_key(self) -> str | None:
        """The key of the highlighted row (what an action acts on), None when empty."""
        if not self.row_count:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        value = self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return None if value is None else str(value)

    def room_for(
        self, column: int, titles: Sequence[str], rows: Sequence[Sequence[Any]], width: int
    ) -> int:
        """The cells `column` may take on a `width`-wide screen once the other columns have the
        width of their widest cell (each cell is padded by one on both sides), less a vertical
        scrollbar when the rows will not fit (or the table is not laid out yet)."""
        widths = [max([len(t), *(_width(r[i]) for r in rows)]) for i, t in enumerate(titles)]
        others = sum(w + 2 for i, w in enumerate(widths) if i != column)
        overflows = len(rows) + 1 > self.size.height  # + 1: the header
        scrollbar = self.styles.scrollbar_size_vertical if overflows else 0
        return max(len(titles[column]), width - others - 2 - scrollbar)

    def fill(self, rows: Iterable[tuple[str, Sequence[Any]]], columns: Sequence[str] = ()) -> None:
        """Replace every row; the cursor stays on its key at the same height on screen.
        `columns` sizes the columns afresh (a column otherwise keeps the widest it has held)."""
        keep, old_row = self.cursor_key, self.cursor_row
        offset = old_row - int(self.scroll_y)
        self.clear(columns=bool(columns))
        if columns:
            self.add_columns(*columns)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if not self.row_count:
            return
        if keep is not None and keep in self.rows:
            index = self.get_row_index(keep)
        else:
            index = min(old_row, self.row_count - 1)
        self.move_cursor(row=index, animate=False, scroll=False)
        if 0 <= offset < max(1, self.scrollable_content_region.height):
            # After the cursor watcher's own scroll-into-view, which runs after the refresh too.
            self.call_after_refresh(self.scroll_to, y=max(0, index - offset), animate=False)
