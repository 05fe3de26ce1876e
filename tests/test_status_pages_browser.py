"""The public status page in real headless Chromium: the DOM it builds (--dump-dom), screenshots
at phone and desktop widths kept in the test's directory, and the privacy check that no target
the page does not list appears anywhere in what the browser shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chromium import Browser, png_size, run_once
from tests.status_world import HIDDEN, StatusWorld, status_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatusWorld]:
    with status_world(tmp_path_factory.mktemp("status-browser")) as w:
        yield w


def test_dom_lists_only_the_page_targets(world: StatusWorld, tmp_path: Path) -> None:
    run = run_once(tmp_path / "profile", "--dump-dom", f"{world.base}/status/pub")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    (tmp_path / "status-pub.html").write_text(dom, encoding="utf-8")
    assert "<h1>Checks &lt;status&gt; &amp; more</h1>" in dom
    names = re.findall(r"<h2>([^<]+)</h2>", dom)
    assert "public-web" in names and "tagged-api" in names
    assert len(re.findall(r'<div class="bar"', dom)) == 2
    assert len(re.findall(r"<i class=\"(?:ok|part|bad|none)\"", dom)) == 180  # 90 days each
    # Privacy: the unlisted target, its id, tag and window, and any address are nowhere.
    assert HIDDEN not in dom and world.ids[HIDDEN] not in dom
    assert "quokka" not in dom.lower() and "secret" not in dom
    assert "127.0.0.1" not in dom and "tcp://" not in dom
    assert "<script" not in dom.lower()


def test_the_other_page_in_the_browser(world: StatusWorld, tmp_path: Path) -> None:
    run = run_once(tmp_path / "profile", "--dump-dom", f"{world.base}/status/other")
    assert run.returncode == 0, run.stderr[-2000:]
    assert HIDDEN in run.stdout
    assert "public-web" not in run.stdout and "tagged-api" not in run.stdout


def test_screenshots_phone_and_desktop(world: StatusWorld, tmp_path: Path) -> None:
    for name, size in (("phone", (390, 844)), ("desktop", (1280, 900))):
        shot = tmp_path / f"status-{name}.png"
        run = run_once(
            tmp_path / f"profile-{name}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={shot}",
            f"{world.base}/status/pub",
        )
        assert run.returncode == 0, run.stderr[-2000:]
        data = shot.read_bytes()
        assert png_size(data) == size
        assert len(data) > 5000  # a rendered page, not a blank one


def test_readable_on_a_phone(world: StatusWorld, tmp_path: Path) -> None:
    """At a phone's width (device emulation: the viewport meta applies) nothing overflows
    sideways, the stylesheet applied, and the text a visitor reads names only listed targets."""
    b = Browser(tmp_path / "profile", 390, 844)
    try:
        b.send(
            "Emulation.setDeviceMetricsOverride",
            width=390,
            height=844,
            deviceScaleFactor=2,
            mobile=True,
        )
        b.goto(f"{world.base}/status/pub")
        assert b.eval("window.innerWidth") == 390
        assert b.eval("document.documentElement.scrollWidth") <= 390
        # The stylesheet is in force: the bar is a 90-column grid, the header a coloured box.
        cols = b.eval(
            "getComputedStyle(document.querySelector('.bar')).gridTemplateColumns.split(' ').length"
        )
        assert cols == 90
        assert b.eval("document.querySelectorAll('.target').length") == 2
        text = b.eval("document.body.innerText")
        assert "public-web" in text and "tagged-api" in text and HIDDEN not in text
        b.screenshot(tmp_path / "status-phone-emulated.png")
        assert b.eval("document.scripts.length") == 0
    finally:
        b.close()
