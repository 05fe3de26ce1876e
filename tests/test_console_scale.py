"""The Targets screen at 100,008 targets: it holds a window, not the store, and every jump,
sort and filter shows the rows the whole order has there (compared with a sort of every record
done here), with live results and state changes reaching the rows in view."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from engine.commands.target_views import STATE_ORDER
from engine.core.events import ResultEvent, StateEvent
from screens.target_pages import WINDOW
from screens.targets import TargetsScreen
from tests.console_fixture import make_app, settle, wait_until
from tests.scale_world import BULK, scale_world

pytestmark = pytest.mark.anyio
N = BULK + 8
SLOW = 10.0  # a step that read every target into the console would take far longer than this


def _targets(app: Any) -> TargetsScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, TargetsScreen)
    return screen


def expected(engine: Any, sort: str, query: str = "") -> list[str]:
    """Every target's name in the order the screen promises, sorted here from the records."""
    shown = engine.display_state
    recs = list(engine.targets.values())
    if query:
        q = query.lower()
        recs = [
            r
            for r in recs
            if q in r.name.lower() or q in r.kind or any(q in t for t in r.tags) or q in shown(r)
        ]
    by_name = sorted(recs, key=lambda r: (r.name.lower(), r.id))
    if sort == "name":
        return [r.name for r in by_name]
    if sort == "latency":
        key = lambda r: (r.last_latency_ms is None, -(r.last_latency_ms or 0.0))  # noqa: E731
        return [r.name for r in sorted(by_name, key=key)]
    rank = {s: i for i, s in enumerate(STATE_ORDER)}
    return [r.name for r in sorted(by_name, key=lambda r: rank.get(shown(r), 3))]


def on_screen(screen: TargetsScreen) -> list[str]:
    rows = screen.rows
    names = []
    for i in screen.table.visible_range():
        local = i - rows.offset
        assert 0 <= local < len(rows.view), f"row {i} is not loaded"
        names.append(rows.view[local].name)
    return names


def _view_loaded(screen: TargetsScreen) -> bool:
    rows = screen.rows
    return all(0 <= i - rows.offset < len(rows.view) for i in screen.table.visible_range())


async def _press(pilot: Any, *keys: str) -> float:
    """Press, then wait until the rows in view are loaded: a jump past the window asks the
    engine when those rows are first drawn, which can come after the workers went quiet."""
    t0 = time.perf_counter()
    await pilot.press(*keys)
    await settle(pilot)
    await wait_until(pilot, lambda: _view_loaded(_targets(pilot.app)), timeout=SLOW)
    return time.perf_counter() - t0


async def test_jumps_sorts_and_filters_show_the_right_rows_at_100000(tmp_path: Path) -> None:
    with scale_world(tmp_path) as w:
        app = make_app(w.backend)
        t0 = time.perf_counter()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = _targets(app)
            await wait_until(pilot, lambda: screen.rows.loaded, timeout=SLOW)
            assert time.perf_counter() - t0 < SLOW
            await settle(pilot)
            rows = screen.rows
            assert len(rows) == N and rows.all == N
            assert len(rows.rows) <= WINDOW  # a window, never the store
            want = expected(w.engine, "state")
            assert want[0] == "bulk-000007"  # the down targets lead, by name
            assert on_screen(screen) == want[: len(on_screen(screen))]
            assert rows.counts["down"] == 101 and sum(rows.counts.values()) == N

            assert await _press(pilot, "end") < SLOW
            assert screen.table.cursor == N - 1
            assert (
                on_screen(screen)[-1] == want[-1]
                and on_screen(screen) == want[-len(on_screen(screen)) :]
            )
            assert await _press(pilot, "home") < SLOW
            assert await _press(pilot, "pagedown", "pagedown", "pagedown") < SLOW
            top = screen.table.visible_range().start
            assert on_screen(screen) == want[top : top + len(on_screen(screen))]
            key = screen.table.cursor_key
            assert key is not None and key in rows.rows  # the cursor's row is a real one

            await _press(pilot, "slash", *"bulk-04200")
            want_f = expected(w.engine, "state", "bulk-04200")
            assert len(rows) == len(want_f) == 10 and want_f[0] == "bulk-042007"
            assert [r.name for r in rows.view] == want_f
            await _press(pilot, "escape")
            assert len(rows) == N

            assert await _press(pilot, "s") < SLOW  # name
            assert rows.sort == "name"
            await _press(pilot, "home")
            assert on_screen(screen) == expected(w.engine, "name")[: len(on_screen(screen))]
            assert await _press(pilot, "s") < SLOW  # latency
            await _press(pilot, "home")
            assert on_screen(screen) == expected(w.engine, "latency")[: len(on_screen(screen))]


async def test_live_results_reach_the_rows_in_view_and_a_state_change_reorders(
    tmp_path: Path,
) -> None:
    with scale_world(tmp_path) as w:
        app = make_app(w.backend)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = _targets(app)
            await wait_until(pilot, lambda: screen.rows.loaded, timeout=SLOW)
            await _press(pilot, "s")  # name order: two fixture targets, then bulk-000000
            await _press(pilot, "home")
            rows = screen.rows
            at = rows.index_of["b0000000"]
            now = w.engine.clock()
            w.engine.events.publish(ResultEvent(now, "b0000000", True, 42.5, None, "up"))
            await wait_until(pilot, lambda: rows.rows["b0000000"].latency == 42.5)
            assert str(rows.row_cells(at)[3]) == "42.5 ms"
            # A target far out of view goes down: the counts say so, the window stays put.
            far = w.engine.targets["b0090000"]
            far.state = "down"
            w.engine.events.publish(StateEvent(now, far.id, "up", "down"))
            await wait_until(pilot, lambda: rows.counts.get("down") == 102, timeout=SLOW)
            assert rows.index_of["b0000000"] == at  # the window stays put
            await _press(pilot, "s", "s")  # state order again: it is among the down ones
            await _press(pilot, "home")
            assert "bulk-090000" in [r.name for r in rows.view[:102]]
            assert len(rows.rows) <= WINDOW
