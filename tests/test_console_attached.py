"""The console attached to a real daemon process under Pilot: it starts no engine of its own, says
`attached`, and acknowledging an incident from the Alerts screen acknowledges it in the daemon."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.api.client import connect_if_running
from engine.config.settings import load_settings
from engine.runtime.facade import AttachedBackend
from screens.alerts import AlertsScreen
from tests.console_fixture import make_app, settle, wait_until
from tests.daemon_harness import init_store, running_daemon, wait_for

pytestmark = pytest.mark.anyio


def _down_target(data_dir: Path) -> None:
    """A target on a port nothing listens on: it goes down within a few checks."""
    from engine.commands import Commands
    from engine.runtime.bootstrap import open_store

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    settings = load_settings(data_dir / "config.toml", data_dir, env={})
    store = open_store(settings)
    try:
        Commands(store, settings).add_target(
            f"tcp://127.0.0.1:{port}", name="db-primary", interval="0.5s", timeout="0.5s"
        )
    finally:
        store.close()


@contextmanager
def _attached_console(data_dir: Path) -> Iterator[tuple[Any, AttachedBackend, Any]]:
    """A real daemon on the store, and a console app attached to it over the local socket."""
    with running_daemon(data_dir) as d:
        settings = load_settings(data_dir / "config.toml", data_dir, env={})
        remote = connect_if_running(settings)
        assert remote is not None, "the console must find the running daemon"
        backend = AttachedBackend(remote)
        try:
            yield d, backend, make_app(backend)
        finally:
            backend.close()


async def test_attached_console_acknowledges_through_the_daemon(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_store(data_dir)
    _down_target(data_dir)
    with _attached_console(data_dir) as (d, backend, app):
        api = d.unix()
        firing = wait_for(
            lambda: [i for i in api.get("/api/v1/incidents", params={"state": "firing"}).json()], 20
        )
        iid = firing[0]["id"]
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert backend.mode == "attached"
            await pilot.press("2")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, AlertsScreen)
            await wait_until(pilot, lambda: any(i["id"] == iid for i in screen.incidents), 10)
            while screen._selected_id() != iid:
                await pilot.press("down")
            await pilot.press("a")
            await settle(pilot)
            inc = wait_for(
                lambda: next(
                    (
                        i
                        for i in api.get("/api/v1/incidents").json()
                        if i["id"] == iid and i["state"] == "acknowledged"
                    ),
                    None,
                ),
                10,
            )
            assert inc["acked_by"] == "tester"
        # No second engine: the daemon still holds the store's lock and is the only prober.
        assert (data_dir / "engine.lock").exists()


async def test_attached_console_form_sends_down_and_up_counts(tmp_path: Path) -> None:
    """The add form's down-after / up-after counts reach the daemon (they were once dropped)."""
    from screens.target_form import TargetFormScreen
    from screens.targets import TargetsScreen

    data_dir = tmp_path / "data"
    init_store(data_dir)
    with _attached_console(data_dir) as (d, _backend, app):
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            form = pilot.app.screen
            assert isinstance(form, TargetFormScreen)
            form.query_one("#f-spec").value = "tcp://127.0.0.1:6553"
            form.query_one("#f-name").value = "counted"
            form.query_one("#f-fail").value = "4"
            form.query_one("#f-recover").value = "2"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, TargetsScreen), 10)
        t = d.unix().get("/api/v1/targets/counted").json()
        assert (t["failure_threshold"], t["recovery_threshold"]) == (4, 2)
        # The daemon's audit log names the console's operator, not a default actor.
        added = [h for h in d.unix().get("/api/v1/history").json() if h["action"] == "target.add"]
        assert [h["actor"] for h in added] == ["tester"]


async def test_attached_console_maintenance_is_recorded_as_its_operator(tmp_path: Path) -> None:
    """A toggle from an attached console reaches the daemon with the operator's name."""
    from screens.targets import TargetsScreen

    data_dir = tmp_path / "data"
    init_store(data_dir)
    _down_target(data_dir)
    with _attached_console(data_dir) as (d, _backend, app):
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, TargetsScreen)
            await wait_until(pilot, lambda: screen.table.cursor_key is not None, 10)
            await pilot.press("m")
            await settle(pilot)
            wait_for(lambda: d.unix().get("/api/v1/maintenance").json(), 10)
            await pilot.press("m")
            await settle(pilot)
            wait_for(lambda: not d.unix().get("/api/v1/maintenance").json() or None, 10)
        history = d.unix().get("/api/v1/history").json()
        acts = [(h["action"], h["actor"]) for h in history if h["action"].startswith("maint")]
        assert sorted(acts) == [("maintenance.off", "tester"), ("maintenance.on", "tester")]
