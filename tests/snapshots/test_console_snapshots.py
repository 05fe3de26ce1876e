"""Every console screen at 80x24 and 120x40 on the fixture world (frozen clock, fixed data).

Update after an intended change with `pytest tests/snapshots --snapshot-update` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.facade import EmbeddedBackend
from tests.console_fixture import build_world, fixture_settings, make_app, make_engine, open_fixture_store, settle

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
SCREENS: dict[str, tuple[str, ...]] = {
    "targets": (),
    "detail": ("enter",),
    "form": ("a",),
    "alerts": ("2",),
    "history": ("3",),
    "maintenance": ("4",),
    "benchmarks": ("5",),
    "contacts": ("6",),
    "help": ("question_mark",),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world") / "data"
    _, store = build_world(d)
    store.close()
    return d


def _backend(template: Path, tmp_path: Path) -> EmbeddedBackend:
    d = tmp_path / "data"
    shutil.copytree(template, d)
    settings = fixture_settings(d)
    return EmbeddedBackend(make_engine(settings, open_fixture_store(settings)))


def _steps(keys: tuple[str, ...], screen: str) -> Any:
    async def run_before(pilot: Any) -> None:
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
def test_screen(snap_compare: Any, template: Path, tmp_path: Path, screen: str, size: str) -> None:
    app = make_app(_backend(template, tmp_path))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_steps(SCREENS[screen], screen))
