"""The Targets screen at 100,008 targets (tests/scale_world.py), at 120x40: the first window,
the last rows after End, and a filter. Update with `--snapshot-update` after an intended change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console_fixture import make_app, settle
from tests.scale_world import scale_world

STEPS: dict[str, tuple[str, ...]] = {
    "top": (),
    "end": ("end",),
    "filter": ("slash", *"rack-0420", "enter"),
    "name_pagedown": ("s", "pagedown", "pagedown"),
}


def _steps(keys: tuple[str, ...]) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("step", list(STEPS))
def test_targets_at_100000(snap_compare: Any, tmp_path: Path, step: str) -> None:
    with scale_world(tmp_path) as world:
        app = make_app(world.backend)
        assert snap_compare(app, terminal_size=(120, 40), run_before=_steps(STEPS[step]))
