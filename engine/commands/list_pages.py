"""Windows of the long lists, for the History, Alerts and Maintenance screens and any API reader.

At 100,000 events, 20,000 incidents or 5,000 maintenance windows a screen asks for the rows it
shows, in the order it shows them, with the number that match: `history_page`, `incident_page`
and `maintenance_page`. Each answers a window by `offset` (a jump, End, a scrollbar) or after a
row (`after`, the `next` of the window before: a reader walking every window meets each row once
even while rows are added on top). Only the window's rows are opened and named.
"""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import Field

from engine.commands.base import CommandBase
from engine.commands.queries import HISTORY_KINDS, _moment
from engine.core.errors import BadInput
from engine.core.limits import REF_MAX, Ref
from engine.core.results import (
    HistoryEvent,
    HistoryPage,
    Incident,
    IncidentPage,
    Window,
    WindowPage,
)
from engine.store import incident_list, list_pages
from engine.store import windows as wstore

PAGE_MAX = 1000  # a window is what a screen holds: a few screens' worth, never the list
Limit = Annotated[int, Field(ge=1, le=PAGE_MAX)]
Offset = Annotated[int, Field(ge=0)]
Cursor = Annotated[str, Field(max_length=REF_MAX)]
OPEN_STATES = ("firing", "acknowledged", "silenced")


def _gone(cursor: str) -> BadInput:
    return BadInput(
        f"cursor {cursor!r} is no longer in this list",
        "start again without `after` (the row was removed, or the filter changed)",
    )


class ListPaging(CommandBase):
    def history_page(
        self,
        target: Ref | None = None,
        kind: str | None = None,
        before: float | str | None = None,
        offset: Offset = 0,
        limit: Limit = 100,
        after: Cursor | None = None,
    ) -> HistoryPage:
        """History events newest first (target, kind and `before` as `history`): the window at
        `offset`, or after the event `after` names; with the number matching."""
        until = _moment(before, "before")
        if kind and kind not in HISTORY_KINDS:
            raise BadInput(
                f"history kind {kind!r} is unknown", f"use one of {', '.join(HISTORY_KINDS)}"
            )
        tid = self.target_record(target).id if target else None
        key = None
        if after:
            ts, _, rid = after.partition("/")
            try:
                key = (float(ts), int(rid))
            except ValueError:
                raise _gone(after) from None
        win = list_pages.audit_window(self.store, tid, kind, until, offset, limit, key)
        rows = list_pages.opened(self.store, win.rows)
        refs = [r.object_ref or "" for r in rows]
        named = {ref[9:] for ref in refs if ref.startswith("incident:")}
        events = self._events(rows, list_pages.incident_targets(self.store, named))  # type: ignore[attr-defined]
        last = win.rows[-1] if win.rows else None
        more = last is not None and win.offset + len(win.rows) < win.total
        return HistoryPage(
            offset=win.offset,
            total=win.total,
            next=f"{last.ts!r}/{last.id}" if more and last is not None else None,
            rows=[HistoryEvent.model_validate(e) for e in events],
        )

    def incident_page(
        self,
        resolved: bool = False,
        offset: Offset = 0,
        limit: Limit = 100,
        after: Cursor | None = None,
        around: Cursor | None = None,
    ) -> IncidentPage:
        """Incidents in the Alerts order (firing, acknowledged, silenced, then resolved when
        asked; newest first in each): a window with its notifications and receipts, the number
        matching and the count per state of all incidents. With `around` (an incident id) the
        window holds that incident, wherever its state moved it; at `offset` when it is gone."""
        states = (*OPEN_STATES, "resolved") if resolved else OPEN_STATES
        try:
            win, counts = list_pages.incident_window(
                self.store, states, offset, limit, after, around
            )
        except LookupError:
            if after:
                raise _gone(after) from None
            win, counts = list_pages.incident_window(self.store, states, offset, limit)
        rows = incident_list.by_ids(self.store, win.rows)
        more = bool(win.rows) and win.offset + len(win.rows) < win.total
        return IncidentPage(
            offset=win.offset,
            total=win.total,
            next=win.rows[-1] if more else None,
            rows=[Incident.model_validate(i) for i in rows],
            counts=counts,
        )

    def maintenance_page(
        self,
        offset: Offset = 0,
        limit: Limit = 100,
        after: Cursor | None = None,
        around: Cursor | None = None,
        now: float | None = None,
    ) -> WindowPage:
        """Maintenance windows not yet over, every target's first, then by start: a window of
        them, the number in all and how many cover every target; `around` as `incident_page`.
        `now` (in-process only: the console's clock) says which are over."""
        at = time.time() if now is None else now
        try:
            win, alls = list_pages.maintenance_window(self.store, at, offset, limit, after, around)
        except LookupError:
            if after:
                raise _gone(after) from None
            win, alls = list_pages.maintenance_window(self.store, at, offset, limit)
        windows = [wstore.from_row(self.store, r) for r in win.rows]
        names = self.target_names(w.target_id for w in windows if w.target_id)  # type: ignore[attr-defined]
        more = bool(windows) and win.offset + len(windows) < win.total
        return WindowPage(
            offset=win.offset,
            total=win.total,
            next=windows[-1].id if more else None,
            rows=[Window.model_validate(w.public(names, at)) for w in windows],
            all_targets=alls,
        )
