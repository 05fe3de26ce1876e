"""Every console screen at 80x24 and 120x40 on the fixture world (frozen clock, fixed data).

Update after an intended change with `pytest tests/snapshots --snapshot-update` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console_fixture import fresh_world, make_app, settle

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
SCREENS: dict[str, tuple[str, ...]] = {
    "targets": (),
    "detail": ("enter",),
    "detail_system": (),  # the cpu target's detail: its chart is the metric, not the latency
    "detail_heartbeat": (),  # a push check: its schedule, deadline and ping URL, not an interval
    "form": ("a",),
    "alerts": ("2",),
    "history": ("3",),
    "maintenance": ("4",),
    "benchmarks": ("5",),
    "contacts": ("6",),
    "rules": ("8",),
    "engines": ("9",),  # a SQLite store: one engine, this one
    "help": ("question_mark",),
}

# Detail screens opened directly: (target id, name).
DIRECT = {"detail_system": ("tcpuload", "cpu"), "detail_heartbeat": ("tnightly", "nightly-backup")}


def _steps(keys: tuple[str, ...], screen: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        if screen in DIRECT:
            from screens.detail import TargetDetailScreen

            pilot.app.push_screen(TargetDetailScreen(*DIRECT[screen]))
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if screen == "form":  # the live validation shows the spec parser's own sentence
            pilot.app.screen.query_one("#f-spec").value = "tcp://db-host"
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare: Any, tmp_path: Path, screen: str, size: str) -> None:
    with fresh_world(tmp_path) as world:
        app = make_app(world.backend)
        assert snap_compare(
            app, terminal_size=SIZES[size], run_before=_steps(SCREENS[screen], screen)
        )
