"""Pilot tests of the Targets screen, its form and detail: every binding, asserting on the store
and the engine, not on pixels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.checks.specs import parse_spec
from engine.core.errors import BadInput
from screens.detail import TargetDetailScreen
from screens.dialogs import ConfirmScreen
from screens.fmt import checking_note, percent
from screens.target_form import TargetFormScreen
from screens.targets import TargetsScreen
from sysalert_tui.console import EmbeddedRuntime
from tests.console_fixture import (
    FIXED_NOW,
    fresh_world,
    make_app,
    settle,
    shown,
    wait_until,
)

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def live_console(w: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The console on a world whose engine runs (real clock), at 80x24, once it has settled."""
    app = make_app(w.backend, runtime=EmbeddedRuntime(w.engine, None))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: w.engine.running)
        await settle(pilot)
        yield app, pilot


def _targets(app) -> TargetsScreen:  # type: ignore[no-untyped-def]
    screen = app.screen_stack[0]
    assert isinstance(screen, TargetsScreen)
    return screen


def _select(app, name: str) -> None:  # type: ignore[no-untyped-def]
    screen = _targets(app)
    ids = {r.name: r.id for r in screen.rows.rows.values()}
    screen.table.cursor = screen.rows.index_of[ids[name]]


async def test_table_shows_every_target_with_symbol_and_word(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = _targets(pilot.app)
            assert len(screen.rows) == 8
            first = screen.rows.view[0]
            assert (first.name, first.state) == ("quokka-api", "down")
            assert str(screen.rows.row_cells(0)[0]) == "✖ down"
            shown = {r.name: r.state for r in screen.rows.view}
            assert shown["backup-nas"] == "maintenance" and shown["legacy-ftp"] == "paused"


async def test_filter_narrows_rows_and_escape_clears(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = _targets(pilot.app)
            await pilot.press("slash", *"back")
            await settle(pilot)
            assert sorted(r.name for r in screen.rows.view) == ["backup-nas", "nightly-backup"]
            await pilot.press("enter")  # keeps the filter, back to the table
            assert pilot.app.focused is screen.table and len(screen.rows) == 2
            await pilot.press("escape")
            assert len(screen.rows) == 8
            await pilot.press("slash", *"paused")
            assert [r.name for r in screen.rows.view] == ["legacy-ftp"]
            await pilot.press("escape")
            await pilot.press("slash", *"zzz")
            await settle(pilot)
            assert len(screen.rows) == 0 and "Esc" in screen.table.empty


async def test_sort_cycles_state_name_latency(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = _targets(pilot.app)
            assert screen.rows.view[0].name == "quokka-api"
            await pilot.press("s")
            assert screen.rows.sort == "name" and screen.rows.view[0].name == "backup-nas"
            await pilot.press("s")
            assert screen.rows.sort == "latency" and screen.rows.view[0].name == "dns-resolver"
            await pilot.press("s")
            assert screen.rows.sort == "state"


async def test_delete_asks_first_and_removes_from_the_store(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            _select(pilot.app, "cpu")
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(pilot.app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot)
            assert "cpu" in {t.name for t in w.engine.commands.list_targets()}
            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert "cpu" not in {t.name for t in w.engine.commands.list_targets()}
            assert "cpu" not in {r.name for r in _targets(pilot.app).rows.view}


async def test_bad_spec_shows_the_parser_message_and_saves_nothing(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as parser:
        parse_spec("tcp://db-host")
    with fresh_world(tmp_path) as w:
        before = len(w.engine.commands.list_targets())
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            form = pilot.app.screen
            assert isinstance(form, TargetFormScreen)
            await pilot.press(*"tcp://db-host")
            error = form.query_one("#e-spec")
            assert error.display and str(parser.value) in str(error.render())
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert pilot.app.screen is form
            assert "nothing was saved" in str(form.query_one("#form-result").render())
        assert len(w.engine.commands.list_targets()) == before


async def test_add_through_the_form_stores_the_target(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            form = pilot.app.screen
            form.query_one("#f-spec").value = "tcp://127.0.0.1:6553"
            form.query_one("#f-name").value = "new-one"
            form.query_one("#f-interval").value = "2m"
            form.query_one("#f-tags").value = "a, b"
            form.query_one("#f-conditions").text = "[CONNECTED] == true"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(pilot.app.screen, TargetsScreen)
            rec = w.engine.commands.get_target("new-one")
            assert (rec.interval_s, rec.tags, rec.conditions) == (
                120.0,
                ["a", "b"],
                ["[CONNECTED] == true"],
            )
            assert "new-one" in {r.name for r in _targets(pilot.app).rows.view}


async def test_edit_prefills_and_saves_changes(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            _select(pilot.app, "db-primary")
            await pilot.press("e")
            await settle(pilot)
            form = pilot.app.screen
            assert isinstance(form, TargetFormScreen)
            assert form.query_one("#f-spec").value == "tcp://127.0.0.1:15432"
            assert form.query_one("#f-tags").value == "db"
            form.query_one("#f-interval").value = "45s"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert w.engine.commands.get_target("db-primary").interval_s == 45.0


async def test_pause_and_resume(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            _select(pilot.app, "cpu")
            await pilot.press("p")
            await settle(pilot)
            assert w.engine.commands.get_target("cpu").paused
            assert _targets(pilot.app).rows.rows["tcpuload"].state == "paused"
            _select(pilot.app, "cpu")
            await pilot.press("p")
            await settle(pilot)
            assert not w.engine.commands.get_target("cpu").paused


async def test_maintenance_toggle_changes_the_engine_state(tmp_path: Path) -> None:
    with fresh_world(tmp_path, live=True) as w:
        async with live_console(w) as (app, pilot):
            rec = w.engine.targets["tquokka"]
            _select(app, "quokka-api")
            await pilot.press("m")
            await wait_until(pilot, lambda: w.engine.display_state(rec) == "maintenance")
            windows = w.engine.commands.list_maintenance()
            assert any(x["scope"] == "target" and x["target"] == "quokka-api" for x in windows)
            await wait_until(
                pilot, lambda: _targets(app).rows.rows["tquokka"].state == "maintenance"
            )
            _select(app, "quokka-api")
            await pilot.press("m")
            await wait_until(pilot, lambda: w.engine.display_state(rec) != "maintenance")
            assert not any(
                x["target"] == "quokka-api" for x in w.engine.commands.list_maintenance()
            )
            await pilot.press("q")
        assert not w.engine.running


async def test_check_now_probes_the_target(tmp_path: Path) -> None:
    with fresh_world(tmp_path, live=True) as w:
        async with live_console(w) as (app, pilot):
            _select(app, "quokka-api")
            await pilot.press("r")
            row = _targets(app).rows.rows["tquokka"]
            # a new result arrives, stamped now (the fixture's own results end at FIXED_NOW)
            await wait_until(pilot, lambda: (row.checked or 0) > FIXED_NOW)
            assert row.error == "refused"
            notes = [str(n.message) for n in app._notifications]
            assert "Checking quokka-api now." in notes, notes  # one engine: it checks here
            await pilot.press("q")


def test_check_now_note_says_which_engines_were_asked() -> None:
    """On a shared store the console says the command's own words: who was asked, or nobody."""
    asked = {"queued": "t1", "asked": [], "detail": "asked engine e-1 in fra to check now"}
    assert checking_note("api", asked) == "api: asked engine e-1 in fra to check now."
    nobody = {"queued": None, "asked": [], "detail": "no engine holds it in nyc now"}
    assert checking_note("api", nobody) == "api: no engine holds it in nyc now."
    assert checking_note("api", {"queued": "t1"}) == "Checking api now."


async def test_a_system_target_shows_its_live_metric_not_latency(tmp_path: Path) -> None:
    """The cpu row's cell is the percent psutil measured just now, carried by the result event."""
    with fresh_world(tmp_path, live=True) as w:
        async with live_console(w) as (app, pilot):
            screen = _targets(app)
            row = screen.rows.rows["tcpuload"]
            _select(app, "cpu")
            await pilot.press("r")
            await wait_until(pilot, lambda: (row.checked or 0) > FIXED_NOW, 10)
            live = w.engine.last_values["tcpuload"]
            assert row.value == live and 0.0 <= live <= 100.0
            first = screen.rows.row_cells(screen.rows.index_of["tcpuload"])[3]
            assert str(first) == percent(live)  # over its max too (a busy machine): then in red
            assert (first.style == "red") == (row.error == "threshold")
            w.engine.commands.edit_target("cpu", spec="system://cpu?max=0")  # over on a busy box
            await wait_until(pilot, lambda: w.engine.targets["tcpuload"].spec_text.endswith("=0"))

            def now_row() -> Any:  # an edit replaces the row: look it up each time
                return screen.rows.rows["tcpuload"]

            def cell() -> Any:  # and it may move as its state changes
                return screen.rows.row_cells(screen.rows.index_of["tcpuload"])[3]

            _select(app, "cpu")
            await pilot.press("r")
            await wait_until(pilot, lambda: now_row().error == "threshold", 10)
            await wait_until(pilot, lambda: cell().style == "red")
            # the value, not a word (a later scheduled check may change it: compare within one look)
            await wait_until(pilot, lambda: str(cell()) == percent(now_row().value))
            await pilot.press("q")


async def test_detail_ranges_and_back(tmp_path: Path) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            detail = pilot.app.screen
            assert isinstance(detail, TargetDetailScreen) and detail.target_id == "tquokka"
            chart = detail.query_one("#chart")
            assert chart.label == "1h" and sum(b["n"] for b in chart.series) == 120
            await pilot.press("d")
            await settle(pilot)
            assert chart.label == "24h"
            await pilot.press("w")
            await settle(pilot)
            assert chart.label == "7d" and sum(b["n"] for b in chart.series) == 120
            await pilot.press("m")
            await settle(pilot)
            assert chart.label == "30d" and sum(b["n"] for b in chart.series) == 120
            assert "[m] 30d" in str(detail.query_one("#detail-range").render())
            sla = str(detail.query_one("#detail-sla").render())
            # 109 of its 120 checks passed; the firing incident opened 5 minutes ago.
            assert "30d: 90.833% · down 5m · 1 incidents" in sla, sla
            assert "90d: 90.833%" in sla, sla
            assert "inquokka" in shown(detail.query_one("#detail-incidents"))
            await pilot.press("escape")
            assert isinstance(pilot.app.screen, TargetsScreen)


async def test_detail_of_a_system_target_charts_its_metric(tmp_path: Path) -> None:
    """A cpu target's latency is the cost of a psutil call: its chart and mean are the percent."""
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            pilot.app.push_screen(TargetDetailScreen("tcpuload", "cpu"))
            await settle(pilot)
            detail = pilot.app.screen
            chart = detail.query_one("#chart")
            assert chart.metric == "value"
            drawn = str(chart.render())
            assert drawn.splitlines()[0].strip().startswith("79%")  # the top of 20..79 %
            assert "mean 50%" in str(detail.query_one("#detail-range").render())
            head = str(detail.query_one("#detail-head").render()).splitlines()[2]
            assert head.startswith("last check 3s ago · 20% ·") and " ms" not in head
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("enter")  # a tcp target keeps the latency chart
            await settle(pilot)
            assert pilot.app.screen.query_one("#chart").metric == "latency_ms"


async def test_detail_names_each_heartbeat_ping(tmp_path: Path) -> None:
    """A heartbeat's history says start, log, success with its run time, and the exit status."""
    from engine.checks.probes.base import ProbeResult
    from engine.store.history import ResultWriter
    from tests.console_world import FIXED_NOW

    with fresh_world(tmp_path) as w:
        writer = ResultWriter(w.store)
        rows = [
            ("start", ProbeResult(True)),
            ("log", ProbeResult(True)),
            ("success", ProbeResult(True, None, 754.0)),
            ("exit:3", ProbeResult(False, None, 3.0, "exit", "ping: fail exit 3")),
        ]
        for i, (ping, res) in enumerate(rows):
            writer.add("tnightly", FIXED_NOW - 3600 + i * 60, res, ping)
        writer.flush()
        writer.close()
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            pilot.app.push_screen(TargetDetailScreen("tnightly", "nightly-backup"))
            await settle(pilot)
            detail = pilot.app.screen
            text = shown(detail.query_one("#detail-results"))
            lines = [ln for ln in text.splitlines() if ln.strip()]
            assert "✖ exit 3" in lines[0] and "ran" not in lines[0]  # newest first
            assert "✔ success" in lines[1] and "ran 12m34s" in lines[1]
            assert "· log" in lines[2] and "▶ start" in lines[3]


async def test_heartbeat_detail_follows_its_pings(tmp_path: Path) -> None:
    """A push check's detail names its schedule, its last ping and next deadline, and where to
    ping it; a ping arriving while it is open shows there (the engine's event stream)."""
    with fresh_world(tmp_path, live=True) as w:
        async with live_console(w) as (app, pilot):
            app.push_screen(TargetDetailScreen("tnightly", "nightly-backup"))
            await settle(pilot)

            def head() -> str:
                return str(app.screen.query_one("#detail-head").render())

            assert "expects a ping every 1d with 1h grace" in head()
            assert "never pinged" in head() and "every 30s" not in head()  # no probe interval
            assert "/ping/fixture-ping-token-tnightly" in head()
            assert "`sysalert ping nightly-backup`" in head()  # no TCP listener in the console
            runner = w.engine.alerting.heartbeats
            assert await runner.ping("fixture-ping-token-tnightly", "start") is not None
            assert await runner.ping("fixture-ping-token-tnightly", "success") is not None
            await wait_until(pilot, lambda: "last ping" in head(), 6)
            assert "next ping by" in head() and "down after" in head()
            assert "last run 0." in head()  # the /start to success time, under a second
            await pilot.pause()  # the results' new lines are laid out on the next refresh
            results = shown(app.screen.query_one("#detail-results"))
            assert "✔ success" in results and "▶ start" in results
            await pilot.press("q")


async def test_a_tls_target_shows_the_days_its_certificate_has_left(tmp_path: Path) -> None:
    """For a TLS check the handshake latency matters less than the certificate's expiry: the row,
    the detail's range line and its results say how many days are left."""
    import trustme

    from tests.test_probe_tls import NOW, tls_server

    cert = trustme.CA().issue_cert("127.0.0.1", not_after=NOW + timedelta(days=30, hours=1))
    async with tls_server(cert) as port:
        with fresh_world(tmp_path, live=True) as w:
            async with live_console(w) as (app, pilot):
                rec = w.engine.commands.add_target(f"tls://127.0.0.1:{port}", name="cert")
                await wait_until(pilot, lambda: rec.id in _targets(app).rows.rows)
                _select(app, "cert")
                await pilot.press("r")
                row = _targets(app).rows.rows[rec.id]
                await wait_until(pilot, lambda: row.value is not None, 10)
                screen = _targets(app)
                cell = screen.rows.row_cells(screen.rows.index_of[rec.id])[3]
                assert str(cell) == "30d left"
                await pilot.press("enter")
                await wait_until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
                await settle(pilot)
                rng = str(app.screen.query_one("#detail-range").render())
                assert "certificate 30d left" in rng and "mean latency" not in rng
                results = shown(app.screen.query_one("#detail-results"))
                assert "30d left" in results
                await pilot.press("q")


def test_value_cells_read_as_their_unit() -> None:
    """Days left round down (1.9 days is one full day), the last day counts hours, an expired
    certificate says so; run times keep a decimal under ten seconds."""
    from screens.fmt import days_left, run_time, value_text

    assert [days_left(v) for v in (30.04, 1.9, 1.0, 0.99, 0.01, 0.0, -3.0, None)] == [
        "30d left",
        "1d left",
        "1d left",
        "23h left",
        "1h left",
        "expired",
        "expired",
        "—",
    ]
    assert value_text("tls") is days_left and value_text("system")(42.4) == "42%"
    assert value_text("tcp")(12.34) == "12.3 ms"
    assert [run_time(v) for v in (0.42, 9.95, 12.0, 754.0, 4200.0)] == [
        "0.4s",
        "9.9s",
        "12s",
        "12m34s",
        "1h10m",
    ]


def test_a_fetch_that_a_result_overtook_does_not_roll_the_row_back() -> None:
    """An edit makes the table fetch the target again in a worker thread; a check that finishes
    meanwhile arrives first as an event. The older record must not undo it (the row would show
    the state before that check until the next one), and the last value stays shown."""
    from screens.target_rows import TargetRows

    rows = TargetRows(clock=lambda: 1000.0)
    before = {"id": "t1", "name": "cpu", "kind": "system", "state": "up", "tags": []}
    rows.upsert({**before, "last_check_at": 900.0, "last_latency_ms": 0.2})
    rows.apply(
        [
            {
                "type": "result",
                "target_id": "t1",
                "ok": False,
                "latency_ms": 0.3,
                "value": 97.0,
                "ts": 950.0,
                "error_class": "threshold",
                "state": "pending",
            }
        ]
    )
    rows.upsert({**before, "name": "cpu-edited", "last_check_at": 900.0})  # read before 950
    row = rows.rows["t1"]
    assert (row.name, row.checked, row.error, row.state) == (
        "cpu-edited",
        950.0,
        "threshold",
        "pending",
    )
    assert row.value == 97.0
    rows.upsert({**before, "state": "down", "last_check_at": 960.0, "last_error_class": "x"})
    row = rows.rows["t1"]
    assert (row.checked, row.error, row.state) == (960.0, "x", "down")  # a newer record wins
