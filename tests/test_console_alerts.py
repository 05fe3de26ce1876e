"""Pilot tests of the Alerts screen: ack, resolve and silence really change the incident in the
store; receipts (queued / sent / read) are shown per notification."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from screens.alerts import AlertsScreen
from screens.dialogs import FieldsDialog
from tests.console_fixture import fresh_world, make_app, settle, shown

pytestmark = pytest.mark.anyio


def _incident(w, iid: str) -> dict:  # type: ignore[no-untyped-def]
    return next(i for i in w.engine.commands.list_incidents() if i["id"] == iid)


async def _open_alerts(pilot) -> AlertsScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AlertsScreen)
    return screen


async def test_lists_open_incidents_with_receipts(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _open_alerts(pilot)
            assert [i["id"] for i in screen.incidents] == [
                "inquokka",
                "indbslow",
            ]  # resolved hidden
            receipts = shown(screen.query_one("#receipts"))
            assert "oncall-anna" in receipts and "read" in receipts
            assert "queued" in receipts and "sent" in receipts
            await pilot.press("v")
            await settle(pilot)
            assert "indnsold" in [i["id"] for i in screen.incidents]


async def test_ack_acknowledges_the_incident_in_the_store(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _open_alerts(pilot)
            assert screen._selected_id() == "inquokka"
            await pilot.press("a")
            await settle(pilot)
            inc = _incident(w, "inquokka")
            assert inc["state"] == "acknowledged" and inc["acked_by"] == "tester"
            assert any(
                i["id"] == "inquokka" and i["state"] == "acknowledged" for i in screen.incidents
            )
            history = w.engine.commands.history(kind="incident")
            assert history[0]["action"] == "incident.ack" and history[0]["actor"] == "tester"


async def test_resolve(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            screen = await _open_alerts(pilot)
            await pilot.press("down")
            assert screen._selected_id() == "indbslow"
            await pilot.press("r")
            await settle(pilot)
            assert _incident(w, "indbslow")["state"] == "resolved"
            assert [i["id"] for i in screen.incidents] == ["inquokka"]


async def test_silence_asks_how_long_and_rejects_nonsense(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await _open_alerts(pilot)
            await pilot.press("s")
            await settle(pilot)
            dialog = pilot.app.screen
            assert isinstance(dialog, FieldsDialog)
            box = dialog.query_one("#f-duration")
            box.value = "soon"
            await pilot.press("enter")
            await settle(pilot)
            assert pilot.app.screen is dialog  # a wrong duration closes nothing
            assert "soon" in str(dialog.query_one("#e-duration").render())
            assert _incident(w, "inquokka")["state"] == "firing"
            box.value = "2h"
            await pilot.press("enter")
            await settle(pilot)
            inc = _incident(w, "inquokka")
            assert inc["state"] == "silenced"
            assert abs(inc["silenced_until"] - (time.time() + 7200)) < 60


async def test_a_group_alert_says_which_members_read_it(tmp_path: Path) -> None:
    """Telegram names who in a small group read an alert; the receipts line shows them."""
    from engine.store import telegram as tgstore

    with fresh_world(tmp_path) as w:
        inc = _incident(w, "inquokka")
        read = next(n for n in inc["notifications"] if n["read_at"])
        tgstore.add_reader(w.store, read["id"], "alice", read["read_at"])
        tgstore.add_reader(w.store, read["id"], "user ****7002", read["read_at"])
        async with make_app(w.backend).run_test(size=(120, 40)) as pilot:
            screen = await _open_alerts(pilot)
            receipts = shown(screen.query_one("#receipts"))
            line = next(ln for ln in receipts.splitlines() if read["contact"] in ln)
            assert line.endswith("by alice, user ****7002"), line
