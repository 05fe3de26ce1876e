"""The console on a PostgreSQL store shared by several engines, at 80x24 and 120x40: the Engines
screen (this console's engine marked, stopped and gone ones) and a multi-location target's detail
(partial: down in one location, none alive in another).

Update after an intended change with `pytest tests/snapshots --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster_console import MULTI, cluster_world
from tests.console_fixture import make_app, settle

pytestmark = pytest.mark.postgres
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


def _steps(screen: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        if screen == "engines":
            await pilot.press("9")
        else:
            from screens.detail import TargetDetailScreen

            pilot.app.push_screen(TargetDetailScreen(MULTI, "db-primary"))
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", ["engines", "detail_locations"])
def test_cluster_screen(snap_compare: Any, tmp_path: Path, screen: str, size: str) -> None:
    with cluster_world(tmp_path) as world:
        app = make_app(world.backend)
        assert snap_compare(app, terminal_size=SIZES[size], run_before=_steps(screen))
