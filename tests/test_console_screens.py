"""Pilot tests of Help, the command palette, History, Maintenance, Benchmarks and Contacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette

from screens.actions import COMMANDS
from screens.dialogs import ConfirmScreen, FieldsDialog
from screens.help import HelpScreen
from screens.history import HistoryScreen
from screens.list_window import WINDOW
from screens.maintenance import MaintenanceScreen
from tests.console_fixture import fresh_world, make_app, settle, wait_until

pytestmark = pytest.mark.anyio


async def _go(pilot, key: str):  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    return pilot.app.screen


async def _fill(pilot, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    dialog = pilot.app.screen
    assert isinstance(dialog, FieldsDialog)
    for name, value in values.items():
        dialog.query_one(f"#f-{name}").value = value
    await pilot.press("ctrl+s")
    await settle(pilot)


async def test_help_lists_every_binding_and_closes(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            help_screen = await _go(pilot, "question_mark")
            assert isinstance(help_screen, HelpScreen)
            from screens.help import help_tables

            rows = {
                str(cell)
                for table in help_tables().renderables
                for col in table.columns
                for cell in col._cells
            }
            assert all(c.help in rows for c in COMMANDS)
            await pilot.press("escape")
            assert not isinstance(pilot.app.screen, HelpScreen)


async def test_palette_finds_and_runs_actions(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")
            await settle(pilot)
            palette = pilot.app.screen
            assert isinstance(palette, CommandPalette)
            await pilot.press(*"event history")
            await wait_until(pilot, lambda: "Show the event history" in _hits(palette))
            assert "Everywhere: Show the event history" in _hits(palette).splitlines()[0]
            await pilot.press("enter")
            await settle(pilot)
            assert pilot.app.current_mode == "history"
            await pilot.press("ctrl+p")
            await settle(pilot)
            await pilot.press(*"toggle maintenance")
            await wait_until(
                pilot, lambda: "Toggle maintenance for every target" in _hits(pilot.app.screen)
            )
            assert "Targets: Toggle maintenance for the selected target" in _hits(pilot.app.screen)


def _hits(palette) -> str:  # type: ignore[no-untyped-def]
    options = palette.query_one("CommandList").options
    return "\n".join(str(o.prompt) for o in options)


async def test_history_filters_and_pages(tmp_path: Path) -> None:
    extra = WINDOW + 50
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        for i in range(extra):
            cmds.audit("target.edit", w.store.ref("target", "tcpuload"), "script", f"change {i}")
        oldest = cmds.history(limit=1000)[-1]
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _go(pilot, "3")
            assert isinstance(screen, HistoryScreen)
            total = extra + 11
            assert len(screen.rows) == total and len(screen.rows.view) == WINDOW  # one window
            await pilot.press("end")
            await settle(pilot)
            await wait_until(pilot, lambda: screen.rows.local(total - 1) is not None)
            assert screen.table.cursor == total - 1
            assert screen.rows.local(total - 1)["action"] == oldest["action"]
            await pilot.press("k")  # kind: state
            await settle(pilot)
            assert screen.kind == "state" and {e["kind"] for e in screen.rows.view} == {"state"}
            assert screen.table.cursor == 0
            await pilot.press("slash")
            await settle(pilot)
            await _fill(pilot, {"target": "quokka-api"})
            assert [e["action"] for e in screen.rows.view] == ["state.down", "state.pending"]
            await pilot.press("g")
            await settle(pilot)
            assert screen.kind is None and screen.target is None and len(screen.rows) == total


async def test_maintenance_toggle_all_add_and_remove(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _go(pilot, "4")
            assert isinstance(screen, MaintenanceScreen) and len(screen.windows) == 2
            await pilot.press("m")
            await settle(pilot)
            assert any(x["scope"] == "all" for x in cmds.list_maintenance())
            await pilot.press("m")
            await settle(pilot)
            assert not any(x["scope"] == "all" for x in cmds.list_maintenance())
            await pilot.press("a")
            await settle(pilot)
            await _fill(pilot, {"what": "db-primary", "schedule": "someday"})
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog) and "someday" in str(
                dialog.query_one("#e-schedule").render()
            )
            await _fill(pilot, {"schedule": "", "duration": "2h", "reason": "reindex"})
            added = [x for x in cmds.list_maintenance() if x["target"] == "db-primary"]
            assert len(added) == 1 and added[0]["reason"] == "reindex" and added[0]["ends_at"]
            screen.table.cursor = screen.rows.index_of[added[0]["id"]]
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(pilot.app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot)
            assert not [x for x in cmds.list_maintenance() if x["target"] == "db-primary"]
            screen.table.cursor = screen.rows.index_of["wdbweek"]
            await pilot.press("e")
            await settle(pilot)
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog)
            assert dialog.query_one("#f-what").value == "tag:db"
            assert dialog.query_one("#f-schedule").value == "Sun 02:00-04:00 UTC"
            await _fill(pilot, {"schedule": "sat,sun 02:00-05:00"})
            weekly = [x for x in cmds.list_maintenance() if x["tag"] == "db"]
            assert [(x["schedule"], x["reason"]) for x in weekly] == [
                ("Sat,Sun 02:00-05:00 UTC", "weekly vacuum")
            ]


async def test_benchmarks_set_baseline(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _go(pilot, "5")
            assert [b["name"] for b in screen.items] == ["api-latency", "cpu-score"]
            assert screen.items[0]["status"] == "regressed"
            await pilot.press("b")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            bench = {b["name"]: b for b in w.engine.commands.list_benchmarks()}["api-latency"]
            assert bench["baseline"] == 210.0 and bench["status"] == "ok"


async def test_benchmarks_add_run_and_remove(tmp_path: Path) -> None:
    """Add validates in the dialog, run measures a real local listener, remove asks first."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    try:
        with fresh_world(tmp_path) as w:
            async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
                screen = await _go(pilot, "5")
                await pilot.press("a")
                await settle(pilot)
                await _fill(pilot, {"spec": "ftp://nope", "threshold": "0"})
                dialog = pilot.app.screen
                assert isinstance(dialog, FieldsDialog)  # nothing saved while a field is wrong
                assert (
                    dialog.query_one("#e-spec").display and dialog.query_one("#e-threshold").display
                )
                await _fill(
                    pilot,
                    {
                        "spec": f"tcp://127.0.0.1:{port}",
                        "name": "pg-connect",
                        "interval": "30m",
                        "threshold": "25",
                    },
                )
                await wait_until(pilot, lambda: "pg-connect" in [b["name"] for b in screen.items])
                (b,) = [b for b in w.engine.commands.list_benchmarks() if b["name"] == "pg-connect"]
                assert (b["interval_s"], b["threshold_pct"]) == (1800.0, 25.0)
                while screen.items[screen.table.cursor_row]["name"] != "pg-connect":
                    await pilot.press("down")
                await pilot.press("r")
                await wait_until(
                    pilot,
                    lambda: any(
                        x["name"] == "pg-connect" and x.get("last_run_at") for x in screen.items
                    ),
                )
                await pilot.press("x")
                await settle(pilot)
                assert isinstance(pilot.app.screen, ConfirmScreen)
                await pilot.press("y")
                await wait_until(
                    pilot, lambda: "pg-connect" not in [b["name"] for b in screen.items]
                )
                assert "pg-connect" not in [b["name"] for b in w.engine.commands.list_benchmarks()]
    finally:
        listener.close()


async def test_rules_add_toggle_and_remove(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _go(pilot, "8")
            assert [r["name"] for r in screen.items] == ["cpu hot", "api slow"]
            await pilot.press("a")
            await settle(pilot)
            await _fill(
                pilot,
                {"name": "disk full", "metric": "system.dsk", "when": "over 90", "channels": "bob"},
            )
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog)  # nothing saved while a field is wrong
            assert dialog.query_one("#e-metric").display and dialog.query_one("#e-when").display
            assert "no contact named 'bob'" in str(dialog.query_one("#e-channels").render())
            await _fill(
                pilot,
                {
                    "metric": "system.disk",
                    "when": ">= 95",
                    "duration": "10m",
                    "channels": "ops-mail, team-hook",
                },
            )
            await wait_until(pilot, lambda: "disk full" in [r["name"] for r in screen.items])
            rule = {r["name"]: r for r in cmds.list_rules()}["disk full"]
            assert (rule["comparison"], rule["threshold"], rule["duration_s"]) == (">=", 95.0, 600)
            assert rule["channels"] == ["ops-mail", "team-hook"]
            assert rule["enabled"] and rule["severity"] == "medium"
            screen.table.move_cursor(row=[r["name"] for r in screen.items].index("disk full"))
            await pilot.press("t")
            await wait_until(
                pilot, lambda: not {r["name"]: r for r in cmds.list_rules()}["disk full"]["enabled"]
            )
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(pilot.app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: "disk full" not in [r["name"] for r in screen.items])
            assert "disk full" not in [r["name"] for r in cmds.list_rules()]
            audit = [h["action"] for h in cmds.history(limit=20)]
            assert {"rule.add", "rule.disable", "rule.remove"} <= set(audit)


async def test_contacts_add_validates_and_remove_asks(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        cmds = w.engine.commands
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _go(pilot, "6")
            assert [c["name"] for c in screen.contacts] == ["oncall-anna", "ops-mail", "team-hook"]
            assert "not logged in" in str(screen.query_one("#telegram").render())
            await pilot.press("a")
            await settle(pilot)
            await _fill(pilot, {"name": "night", "address": "pager:123"})
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog) and dialog.query_one("#e-address").display
            await _fill(pilot, {"address": "email:night@example.com", "level": "2"})
            assert {c["name"]: c["level"] for c in cmds.list_contacts()}["night"] == 2
            screen.table.move_cursor(row=[c["name"] for c in screen.contacts].index("night"))
            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert "night" not in {c["name"] for c in cmds.list_contacts()}
