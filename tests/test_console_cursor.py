"""An action acts on the row the operator is looking at: the cursor stays on the same item when
rows arrive above it, leave or re-sort, on every list screen, and `a` on Alerts acknowledges the
highlighted incident (its confirmation names the target and the id), never a neighbour."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.coordinate import Coordinate

from engine.store import incidents as inc_store
from screens.alerts import AlertsScreen
from screens.virtual_table import VirtualTable
from tests.console_fixture import FIXED_NOW, fresh_world, make_app, settle

pytestmark = pytest.mark.anyio


def _states(cmds: Any) -> dict[str, str]:
    return {i["id"]: i["state"] for i in cmds.list_incidents(limit=500)}


def _said(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_ack_takes_the_highlighted_incident_while_others_arrive_and_resort(
    tmp_path: Path,
) -> None:
    """Thirty rounds: the operator picks a firing row; before the key press, newer incidents open
    above it (the list is newest first), one elsewhere resolves (leaves) and one is acknowledged
    (moves down), and the list reloads. `a` must acknowledge the row picked, and say which."""
    rng = random.Random(21)
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        store = w.store
        targets = {t.id: t.name for t in cmds.list_targets()}
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, AlertsScreen)
            opened = 0
            for round_ in range(30):
                for _ in range(2):  # keep a few firing rows to choose from
                    opened += 1
                    tid = rng.choice(list(targets))
                    inc_store.open_incident(
                        store,
                        f"test:{opened}",
                        "down",
                        "high",
                        f"{targets[tid]} is down (round {round_})",
                        tid,
                        now=FIXED_NOW + opened,
                    )
                screen.reload()
                await settle(pilot)
                firing = [i["id"] for i in screen.incidents if i["state"] == "firing"]
                row = [i["id"] for i in screen.incidents].index(rng.choice(firing))
                _move(screen.table, row + screen.rows.offset)
                await settle(pilot)
                table = screen.table
                seen = str(table.source.row_cells(table.cursor)[0])  # the ID cell on screen
                target = next(i["target"] for i in screen.incidents if i["id"] == seen)

                # While the operator reaches for the key: more arrive, one leaves, one moves.
                for _ in range(rng.randint(1, 3)):
                    opened += 1
                    tid = rng.choice(list(targets))
                    inc_store.open_incident(
                        store,
                        f"test:{opened}",
                        "down",
                        "high",
                        f"{targets[tid]} is down (late {round_})",
                        tid,
                        now=FIXED_NOW + opened,
                    )
                others = [i for i, s in _states(cmds).items() if s == "firing" and i != seen]
                cmds.resolve_incident(rng.choice(others), by="someone-else")
                others = [i for i, s in _states(cmds).items() if s == "firing" and i != seen]
                cmds.ack_incident(rng.choice(others), by="someone-else")
                screen.reload()
                await settle(pilot)

                before = _states(cmds)
                await pilot.press("a")
                await settle(pilot)
                after = _states(cmds)
                changed = {i for i in after if after[i] != before.get(i)}
                assert changed == {seen}, f"round {round_}: pressed on {seen}, changed {changed}"
                assert after[seen] == "acknowledged"
                said = _said(pilot.app)[-1]
                assert seen in said and str(target) in said, said
                # the cursor stayed on the acknowledged incident as it moved down the list
                assert _key_at(screen.table, _row(screen.table)) == seen


def _key_at(table: Any, row: int) -> str:
    """The key of a row, read from the table itself (what is on screen): a DataTable's, or a
    VirtualTable's (the windowed lists)."""
    if isinstance(table, VirtualTable):
        return table.source.row_key(row)
    return str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)


def _row(table: Any) -> int:
    return int(table.cursor if isinstance(table, VirtualTable) else table.cursor_row)


def _count(table: Any) -> int:
    return len(table.source) if isinstance(table, VirtualTable) else int(table.row_count)


def _move(table: Any, row: int) -> None:
    if isinstance(table, VirtualTable):
        table._move(row)
    else:
        table.move_cursor(row=row)


# screen key, what to add so it has three rows, how to remove a row by its key, how to reload
LISTS: dict[str, tuple[Callable[[Any], None], Callable[[Any, str], Any], str]] = {
    "4": (
        lambda c: c.maintenance_on(what="tag:web", duration="2h", reason="third"),
        lambda c, k: c.remove_window(k),
        "reload",
    ),
    "5": (
        lambda c: c.add_benchmark("cpu", name="zz-cpu"),
        lambda c, k: c.remove_benchmark(k),
        "action_reload",
    ),
    "6": (lambda c: None, lambda c, k: c.remove_contact(k), "reload"),
    "7": (
        lambda c: [c.add_subscriber(str(77441200 + i)) for i in range(3)],
        lambda c, k: c.remove_subscriber(k),
        "action_reload",
    ),
    "8": (
        lambda c: c.add_rule("zz disk", "system.disk", ">", 90),
        lambda c, k: c.remove_rule(k),
        "action_reload",
    ),
}


@pytest.mark.parametrize("key", list(LISTS))
async def test_the_cursor_stays_on_its_row_when_a_row_above_it_leaves(
    tmp_path: Path, key: str
) -> None:
    add, remove, reload = LISTS[key]
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        add(cmds)
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
            screen = pilot.app.screen
            table = screen.table
            assert _count(table) >= 3
            _move(table, 1)
            await settle(pilot)
            kept = _key_at(table, _row(table))
            remove(cmds, _key_at(table, 0))
            getattr(screen, reload)()
            await settle(pilot)
            assert _key_at(table, _row(table)) == kept
            assert _row(table) == 0  # it moved up with its row


async def test_history_keeps_its_event_when_newer_events_arrive(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("3")
            await settle(pilot)
            screen = pilot.app.screen
            screen.table.action_cursor(2)
            kept = screen.table.cursor_key
            assert kept is not None and screen.table.cursor == 2
            cmds.maintenance_on(what="all", duration="1h", reason="newer")  # audited: on top
            screen.reload()
            await settle(pilot)
            assert screen.table.cursor_key == kept and screen.table.cursor > 2


async def test_targets_keep_their_row_when_a_target_above_leaves(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        async with make_app(w.backend).run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            screen.table.action_cursor(2)
            kept = screen.table.cursor_key
            cmds.remove_target(screen.rows.row_key(0))
            screen.reload()
            await settle(pilot)
            assert screen.table.cursor_key == kept and screen.table.cursor == 1
