"""History, Alerts and Maintenance at 100,000 events, 20,000 incidents and 5,000 windows
(tests/list_world.py): each screen asks the engine for the window it shows, never the list
(counted in rows asked, not timed), End shows the last row of the whole list, PgDn/PgUp/Home
show the rows there, a filter narrows what is asked, and a live change reads one window again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.commands import Commands
from screens.alerts import AlertsScreen
from screens.dialogs import FieldsDialog
from screens.history import HistoryScreen
from screens.list_window import WINDOW, WindowedScreen
from screens.maintenance import MaintenanceScreen
from screens.messages import EngineEvents
from tests.console_fixture import FIXED_NOW, make_app, settle, wait_until
from tests.list_world import ACKED, EVENTS, FIRING, INCIDENTS, WINDOWS, lists_world

pytestmark = pytest.mark.anyio
SLOW = 20.0  # a step that read the whole list would take far longer than this


async def _go(pilot: Any, key: str) -> Any:
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.rows.loaded, SLOW)
    return screen


def _in_view(screen: WindowedScreen) -> list[Any]:
    """The rows on screen; each must be held (never a placeholder once the keys settled)."""
    out = []
    for i in screen.table.visible_range():
        row = screen.rows.local(i)
        assert row is not None, f"row {i} is not loaded"
        out.append(row)
    return out


def _loaded(screen: WindowedScreen) -> bool:
    return all(screen.rows.local(i) is not None for i in screen.table.visible_range())


async def _press(pilot: Any, screen: WindowedScreen, *keys: str) -> list[Any]:
    await pilot.press(*keys)
    await settle(pilot)
    await wait_until(pilot, lambda: _loaded(screen), SLOW)
    return _in_view(screen)


def _held_at_most(screen: WindowedScreen, windows: int) -> None:
    assert len(screen.rows.view) <= WINDOW
    assert screen.rows_asked <= windows * WINDOW, screen.rows_asked  # at 100x30: WINDOW each


async def test_history_at_100000_events(tmp_path: Path) -> None:
    with lists_world(tmp_path) as w:
        cmds: Commands = w.engine.commands
        total = EVENTS + 11  # the fixture's own eleven, newer than the bulk
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            screen = await _go(pilot, "3")
            assert isinstance(screen, HistoryScreen)
            assert len(screen.rows) == total
            _held_at_most(screen, 1)  # the first page: one window, not 100,011 rows
            newest = cmds.history(limit=30)
            assert [e["ts"] for e in _in_view(screen)] == [e["ts"] for e in newest][
                : screen.table.visible_range().stop
            ]

            rows = await _press(pilot, screen, "end")
            assert screen.table.cursor == total - 1
            assert rows[-1]["detail"] == f"bulk event {EVENTS - 1:06d}"  # the oldest of all
            _held_at_most(screen, 3)

            before = screen.table.cursor
            rows = await _press(pilot, screen, "pageup", "pageup")
            assert screen.table.cursor < before and rows[0]["ts"] > rows[-1]["ts"]
            rows = await _press(pilot, screen, "home")
            assert screen.table.cursor == 0 and rows[0]["ts"] == newest[0]["ts"]
            rows = await _press(pilot, screen, *["pagedown"] * 12)
            at = screen.table.cursor
            page = cmds.history_page(offset=screen.table.visible_range().start, limit=len(rows))
            assert [e["ts"] for e in rows] == [e.ts for e in page.rows] and at > 200

            asked = screen.rows_asked
            await pilot.press("slash")
            await settle(pilot)
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog)
            dialog.query_one("#f-target").value = "quokka-api"
            await pilot.press("ctrl+s")
            await settle(pilot)
            narrowed = cmds.history_page(target="quokka-api", limit=1).total
            assert len(screen.rows) == narrowed < total and screen.table.cursor == 0
            assert {e["target"] for e in _in_view(screen)} == {"quokka-api"}
            assert screen.rows_asked - asked <= 2 * WINDOW
            rows = await _press(pilot, screen, "end")
            assert screen.table.cursor == narrowed - 1 and rows[-1]["target"] == "quokka-api"

            await pilot.press("k")  # kind: state, within the target's
            await settle(pilot)
            assert {e["kind"] for e in _in_view(screen)} == {"state"}
            assert len(screen.rows) < narrowed

            await pilot.press("g")
            await settle(pilot)
            assert len(screen.rows) == total

            # A live change: the window in view is read again (and the count), nothing more.
            asked = screen.rows_asked
            cmds.audit("target.edit", w.store.ref("target", "tquokka"), "ops", "live")
            screen.post_message(EngineEvents([{"type": "state"}]))
            await wait_until(pilot, lambda: len(screen.rows) == total + 1, SLOW)
            await settle(pilot)
            assert screen.rows_asked - asked == WINDOW
            assert _in_view(screen)[0]["detail"] == "live"


async def test_alerts_at_20000_incidents(tmp_path: Path) -> None:
    with lists_world(tmp_path) as w:
        cmds: Commands = w.engine.commands
        open_ = FIRING + ACKED + 2  # the fixture's firing and acknowledged ones too
        everything = INCIDENTS + 3
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            screen = await _go(pilot, "2")
            assert isinstance(screen, AlertsScreen)
            assert len(screen.rows) == open_
            _held_at_most(screen, 1)
            rows = _in_view(screen)
            assert rows[0]["id"] == "inquokka" and {r["state"] for r in rows} == {"firing"}
            assert screen.counts == {
                "firing": FIRING + 1,
                "acknowledged": ACKED + 1,
                "resolved": INCIDENTS - FIRING - ACKED + 1,
            }

            rows = await _press(pilot, screen, "end")
            assert screen.table.cursor == open_ - 1
            assert rows[-1]["id"] == f"ib{FIRING + ACKED - 1:06d}"  # the oldest acknowledged
            _held_at_most(screen, 3)

            # The operator acts on a firing row deep in the list: the cursor goes with it as
            # acknowledging moves it down to the acknowledged ones (out of the window held).
            await _press(pilot, screen, "home", *["pagedown"] * 10)
            chosen = screen.table.cursor_key
            assert screen.selected is not None and screen.selected["state"] == "firing"
            at = screen.table.cursor
            await pilot.press("a")
            await settle(pilot)
            acked = {i["id"] for i in cmds.list_incidents(state="acknowledged", limit=1000)}
            assert chosen in acked
            assert screen.table.cursor_key == chosen and screen.table.cursor > FIRING > at
            assert screen.selected["state"] == "acknowledged"

            await pilot.press("v")  # resolved ones too: the whole list, still one window
            await settle(pilot)
            assert len(screen.rows) == everything and screen.table.cursor == 0
            rows = await _press(pilot, screen, "end")
            assert rows[-1]["id"] == f"ib{INCIDENTS - 1:06d}" and rows[-1]["state"] == "resolved"
            rows = await _press(pilot, screen, "home")
            assert rows[0]["id"] == "inquokka"
            await pilot.press("v")
            await settle(pilot)
            assert len(screen.rows) == open_  # resolved hidden again
            assert screen.rows_asked <= 12 * WINDOW  # a dozen windows for all of the above


async def test_maintenance_at_5000_windows(tmp_path: Path) -> None:
    with lists_world(tmp_path) as w:
        total = WINDOWS + 2
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            screen = await _go(pilot, "4")
            assert isinstance(screen, MaintenanceScreen)
            assert len(screen.rows) == total
            _held_at_most(screen, 1)
            rows = _in_view(screen)
            assert [r["id"] for r in rows[:3]] == ["wdbweek", "wbackup", "wb00000"]

            rows = await _press(pilot, screen, "end")
            assert screen.table.cursor == total - 1 and rows[-1]["id"] == f"wb{WINDOWS - 1:05d}"
            _held_at_most(screen, 3)
            rows = await _press(pilot, screen, "pageup")
            assert rows[-1]["starts_at"] < FIXED_NOW + 86400 + 60 * WINDOWS
            rows = await _press(pilot, screen, "home")
            assert rows[0]["id"] == "wdbweek"

            # m: every target in maintenance; its window comes first, the count follows.
            await pilot.press("m")
            await settle(pilot)
            await wait_until(pilot, lambda: len(screen.rows) == total + 1, SLOW)
            assert screen.all_targets == 1 and _in_view(screen)[0]["scope"] == "all"
            await pilot.press("m")
            await settle(pilot)
            await wait_until(pilot, lambda: len(screen.rows) == total, SLOW)
            assert screen.all_targets == 0


async def test_a_tall_terminal_gets_windows_that_cover_it(tmp_path: Path) -> None:
    """On a terminal taller than a third of WINDOW the window grows to three screens: the rows
    in view always fit in one, and it is asked once per jump, never again and again."""
    with lists_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(120, 150)) as pilot:
            screen = await _go(pilot, "3")
            assert isinstance(screen, HistoryScreen)
            height = len(screen.table.visible_range())
            assert height > WINDOW // 3 and len(screen.rows.view) >= 3 * height - 3
            rows = await _press(pilot, screen, "end")
            assert len(rows) == height and screen.table.cursor == EVENTS + 10
            await pilot.pause(0.3)
            await settle(pilot)
            assert screen.asked <= 3, screen.asked
