"""Chrome that tells the truth and text that fits: every tab shows and the current one is
bracketed at any width, the status bar never says 0 targets while the engine is still loading and
never wraps, target rows show at 60x20, long errors and results wrap under themselves (a hanging
indent), and a contact's address gets the width the table has free."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from engine.checks.probes.base import ProbeResult
from engine.notify import outbox
from engine.runtime.engine import Engine
from engine.runtime.facade import EmbeddedBackend
from engine.store import incidents as inc_store
from engine.store.history import ResultWriter
from screens.alerts import AlertsScreen
from screens.chrome import NavBar, StatusBar
from screens.contacts import shown_address
from sysalert_tui.console import EmbeddedRuntime
from tests.console_fixture import FIXED_NOW, fresh_world, make_app, settle, shown

pytestmark = pytest.mark.anyio

SIZES = [(60, 20), (80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_screen_brackets_its_own_tab(tmp_path: Path, size: tuple[int, int]) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=size) as pilot:
            await settle(pilot)
            for key in "12345678":
                await pilot.press(key)
                await settle(pilot)
                top = shown(pilot.app.screen.query_one(NavBar))
                assert re.search(rf"\[{key} [A-Z]", top), (key, top)
                assert len(re.findall(r"\[\d ", top)) == 1, top  # one tab is current
                if size[0] >= 80:  # every tab fits from 80 columns on
                    assert all(f"{k} " in top for k in "12345678"), top


@pytest.mark.parametrize("size", [(60, 20), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_target_rows_show_on_a_small_terminal(tmp_path: Path, size: tuple[int, int]) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=size) as pilot:
            await settle(pilot)
            table = pilot.app.screen.table
            assert table.region.height >= 6  # the header and five rows at least
            text = shown(table)
            assert "quokka-api" in text and "db-primary" in text


async def test_the_status_bar_says_starting_not_zero_targets_while_the_engine_loads(
    tmp_path: Path,
) -> None:
    """A fresh engine knows no target until it has loaded them; meanwhile the table already shows
    the store's rows. The bar says the engine is starting, then the real count."""
    with fresh_world(tmp_path, live=True) as w:
        engine = Engine(w.settings, w.store, mode="embedded")  # nothing loaded yet
        app = make_app(EmbeddedBackend(engine), runtime=EmbeddedRuntime(engine, None))
        seen: list[str] = []
        async with app.run_test(size=(80, 24)) as pilot:
            bar = pilot.app.screen.query_one(StatusBar)
            deadline = time.monotonic() + 20
            while "8 targets" not in (seen[-1] if seen else "") and time.monotonic() < deadline:
                seen.append(shown(bar))
                await pilot.pause(0.01)
            assert "8 targets" in seen[-1], seen[-1]
            assert not [s for s in seen if re.search(r"\b0 targets", s)], seen
            await pilot.press("q")


async def test_the_status_bar_is_one_line_that_ends_in_an_ellipsis(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            long = "pager (apprise): delivery failed after the service answered HTTP 503 " * 2
            pilot.app.stats = {"targets": 8, "probe_rate": 1.0, "last_error": long}
            await pilot.pause()
            bar = pilot.app.screen.query_one(StatusBar)
            text = shown(bar)
            assert bar.region.height == 1 and "\n" not in text
            assert "last error: pager (apprise): delivery" in text and text.endswith("…"), text


def _hangs(lines: list[str], start: int) -> None:
    """Lines after `start` that continue it begin under its text, never at column 0."""
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        assert line.startswith("  "), lines


async def test_a_long_delivery_error_wraps_under_itself(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        inc = next(i for i in w.engine.commands.list_incidents() if i["id"] == "inquokka")
        note = next(n for n in inc["notifications"] if n["contact"] == "team-hook")
        why = "HTTP 503 from the receiver: the service is unavailable, try again later " * 2
        outbox.mark_failed(w.store, note["id"], why.strip(), True, None, 1, FIXED_NOW)
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, AlertsScreen)
            lines = shown(screen.query_one("#receipts")).splitlines()
            at = next(i for i, ln in enumerate(lines) if "team-hook" in ln)
            assert len([ln for ln in lines[at:] if ln.strip()]) > 1  # it did wrap
            _hangs(lines, at)
            assert "try again later" in "\n".join(lines[at:])  # all of it, not cut


async def test_a_long_result_detail_wraps_under_itself(tmp_path: Path) -> None:
    from screens.detail import TargetDetailScreen

    with fresh_world(tmp_path) as w:
        writer = ResultWriter(w.store)
        why = "connection refused by 127.0.0.1 after the handshake began; retried twice " * 2
        writer.add("tquokka", FIXED_NOW - 1, ProbeResult(False, 0.3, None, "refused", why))
        writer.flush()
        writer.close()
        summary = "quokka-api is down: a long story " + "of refusals " * 8 + "and the end"
        inc_store.open_incident(w.store, "test:long", "down", "high", summary, "tquokka")
        async with make_app(w.backend).run_test(size=(80, 60)) as pilot:
            await settle(pilot)
            pilot.app.push_screen(TargetDetailScreen("tquokka", "quokka-api"))
            await settle(pilot)
            lines = shown(pilot.app.screen.query_one("#detail-results")).splitlines()
            at = next(i for i, ln in enumerate(lines) if "after the handshake" in ln)
            assert "retried twice" in lines[at + 1]  # the rest is on the next lines
            _hangs(lines, at)
            lines = shown(pilot.app.screen.query_one("#detail-incidents")).splitlines()
            at = next(i for i, ln in enumerate(lines) if "long story" in ln)
            assert "the end" in "\n".join(lines[at:])  # whole, not cut at 50 characters
            _hangs(lines, at)


def test_a_shown_address_keeps_its_secrets_back() -> None:
    assert shown_address("telegram", "@anna_oncall") == "@anna_oncall"
    assert shown_address("telegram", "77441265") == "****1265"
    assert shown_address("telegram", "+447700900123") == "****0123"
    assert shown_address("pagerduty", "R0UT1NGKEY1234") == "****1234"
    assert shown_address("email", "ops@example.com") == "ops@example.com"
    assert (
        shown_address("webhook", "https://u:pw@hooks.example.com:8443/a/b?token=x")
        == "https://hooks.example.com:8443/a/b"
    )
    assert (
        shown_address("slack", "https://hooks.slack.com/services/T0/B0/SECRETabcd")
        == "https://hooks.slack.com/…abcd"
    )
    assert shown_address("apprise", "tgram://123:BOTTOKEN/4567") == "tgram://…4567"


async def test_a_contact_address_gets_the_free_width(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        w.engine.commands.add_contact(
            "prod-hook", "webhook:https://alerts.example.com/hooks/sysalert/production?token=s3"
        )
        async with make_app(w.backend).run_test(size=(100, 24)) as pilot:
            await settle(pilot)
            await pilot.press("6")
            await settle(pilot)
            text = shown(pilot.app.screen.query_one("#contacts"))
            assert "https://alerts.example.com/hooks/sysalert/production" in text, text
            assert "token" not in text and "s3" not in text  # a query may hold a secret
            await pilot.resize_terminal(60, 20)
            await settle(pilot)
            text = shown(pilot.app.screen.query_one("#contacts"))
            row = next(ln for ln in text.splitlines() if "prod-hook" in ln)
            assert "…" in row and "https://" in row and row.rstrip().endswith("ok"), row
