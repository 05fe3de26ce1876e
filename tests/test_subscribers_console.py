"""Pilot tests of the console's Subscribers screen (list, add with validation, remove with
confirmation) and of the owner shown and filterable on the Targets and Benchmarks screens."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from engine.store import subscribers as sstore
from screens.dialogs import ConfirmScreen, FieldsDialog
from screens.subscribers import SubscribersScreen
from tests.console_fixture import make_app, settle, wait_until
from tests.subscriber_console import CAROL, CAROL_TARGET, subscriber_world

pytestmark = pytest.mark.anyio


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_subscribers(pilot) -> SubscribersScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("7")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SubscribersScreen)
    return screen


async def test_subscriber_screen_lists_masked_ids_role_quota_and_last_seen(tmp_path: Path):
    with subscriber_world(tmp_path) as (w, _ids):
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await open_subscribers(pilot)
            assert rows(screen.table) == [
                ["****1265", "subscriber", "1/3", "1", "5m ago", "3d ago"],
                ["****0001", "admin", "0", "0", "never", "24h ago"],
            ]
            shot = pilot.app.export_screenshot()
            assert "****1265" in shot and str(CAROL) not in shot
            assert pilot.app.current_mode == "subscribers"


async def test_subscriber_add_from_the_console_checks_the_chat_id(tmp_path: Path):
    with subscriber_world(tmp_path) as (w, _ids):
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await open_subscribers(pilot)
            await pilot.press("a")
            await settle(pilot)
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog)
            dialog.query_one("#f-chat_id").value = "carol"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert pilot.app.screen is dialog  # not closed while the id is wrong
            error = str(dialog.query_one("#e-chat_id").render())
            assert "'carol' is not a Telegram chat id" in error
            dialog.query_one("#f-chat_id").value = "5551234"
            dialog.query_one("#f-role").value = "boss"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "the role is subscriber or admin" in str(dialog.query_one("#e-role").render())
            dialog.query_one("#f-role").value = "admin"
            await pilot.press("ctrl+s")
            await settle(pilot)
            await wait_until(pilot, lambda: screen.table.row_count == 3)
            assert rows(screen.table)[2][:5] == ["****1234", "admin", "0", "0", "never"]
            added = sstore.find(w.store, 5551234)
            assert added is not None and added.role == "admin"


async def test_subscriber_remove_asks_first_then_erases_what_they_own(tmp_path: Path):
    with subscriber_world(tmp_path) as (w, ids):
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await open_subscribers(pilot)
            await pilot.press("x")
            await settle(pilot)
            confirm = pilot.app.screen
            assert isinstance(confirm, ConfirmScreen)
            assert "Remove subscriber ****1265?" in confirm.question
            await pilot.press("n")
            await settle(pilot)
            assert screen.table.row_count == 2 and sstore.find(w.store, CAROL) is not None
            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            await wait_until(pilot, lambda: screen.table.row_count == 1)
            assert rows(screen.table)[0][0] == "****0001"
            assert sstore.find(w.store, CAROL) is None
            assert w.engine.commands.list_targets(ids[str(CAROL)]) == []
            assert CAROL_TARGET not in w.engine.targets  # its probes stopped


async def test_owner_is_shown_and_filterable_on_the_targets_screen(tmp_path: Path):
    with subscriber_world(tmp_path) as (w, _ids):
        async with make_app(w.backend).run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            names = [str(screen.rows.row_cells(i)[1]) for i in range(len(screen.rows))]
            assert "carol-web · ****1265" in names and "quokka-api" in names
            await pilot.press("slash", *"owner:1265")
            await settle(pilot)
            assert [r.name for r in screen.rows.view] == ["carol-web"]
            screen.query_one("#filter").value = "owner:operator"
            await settle(pilot)
            shown = [r.name for r in screen.rows.view]
            assert "carol-web" not in shown and len(shown) == 8
            screen.query_one("#filter").value = "owner:1265 quokka"
            await settle(pilot)
            assert screen.rows.view == []


async def test_owner_is_shown_and_filterable_on_the_benchmarks_screen(tmp_path: Path):
    with subscriber_world(tmp_path) as (w, _ids):
        async with make_app(w.backend).run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("5")
            await settle(pilot)
            screen = pilot.app.screen
            names = [r[0] for r in rows(screen.table)]
            assert names == ["api-latency", "cpu · ****1265", "cpu-score"]
            seen = []
            for _ in range(4):  # everyone -> operator -> ****0001 -> ****1265 -> everyone
                await pilot.press("o")
                await settle(pilot)
                seen.append([r[0] for r in rows(screen.table)])
            assert seen == [
                ["api-latency", "cpu-score"],
                [],
                ["cpu · ****1265"],
                ["api-latency", "cpu · ****1265", "cpu-score"],
            ]
            info = str(screen.query_one("#bench-info").render())
            assert "owner: everyone (o)" in info
