"""The Subscribers screen, and the owner shown on Targets and Benchmarks, at 80x24 and 120x40 on
the fixture world plus two subscribers (frozen clock, fixed data).

Update after an intended change with `pytest tests/snapshots --snapshot-update` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console_fixture import make_app, settle
from tests.subscriber_console import subscriber_world

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
SCREENS: dict[str, tuple[str, ...]] = {
    "subscribers": ("7",),
    "targets_owner": (),
    "benchmarks_owner": ("5",),
}


def _steps(keys: tuple[str, ...]) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_subscriber_screen(snap_compare: Any, tmp_path: Path, screen: str, size: str) -> None:
    with subscriber_world(tmp_path) as (world, _ids):
        app = make_app(world.backend)
        assert snap_compare(app, terminal_size=SIZES[size], run_before=_steps(SCREENS[screen]))
