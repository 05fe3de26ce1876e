"""History, Alerts and Maintenance at 100,000 events, 20,000 incidents and 5,000 windows
(tests/list_world.py), at 120x40: each list's first window and its last rows after End (the
Alerts with resolved ones shown). Update with `--snapshot-update` after an intended change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console_fixture import make_app, settle
from tests.list_world import lists_world

STEPS: dict[str, tuple[str, ...]] = {
    "history_top": ("3",),
    "history_end": ("3", "end"),
    "alerts_top": ("2",),
    "alerts_resolved_end": ("2", "v", "end"),
    "maintenance_end": ("4", "end"),
}


def _steps(keys: tuple[str, ...]) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.1)  # a window asked for by the last rows drawn
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("step", list(STEPS))
def test_lists_at_scale(snap_compare: Any, tmp_path: Path, step: str) -> None:
    with lists_world(tmp_path) as world:
        app = make_app(world.backend)
        assert snap_compare(app, terminal_size=(120, 40), run_before=_steps(STEPS[step]))
