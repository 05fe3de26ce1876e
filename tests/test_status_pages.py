"""Public status pages and badges, by HTTP against a real daemon (no API key anywhere), and the
[[status_pages]] config checks. What a page does not list must not appear at all."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.core.errors import ConfigError
from tests.status_world import HIDDEN, HISTORY, StatusWorld, status_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatusWorld]:
    with status_world(tmp_path_factory.mktemp("status")) as w:
        yield w


@pytest.fixture
def http(world: StatusWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.base, timeout=10) as c:  # no key: the public is anyone
        yield c


def _wait_page(http: httpx.Client, needle: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = http.get("/status/pub").text
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def test_page_shows_listed_targets_by_name_and_tag(http: httpx.Client) -> None:
    r = http.get("/status/pub")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<title>Checks &lt;status&gt; &amp; more</title>" in html  # escaped, as written
    assert "<h2>public-web</h2>" in html and "<h2>tagged-api</h2>" in html
    assert "<script" not in html.lower()
    assert html.count('<link rel="stylesheet"') == 1
    css = http.get("/status/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert len(css.content) < 4096


def test_nothing_of_an_unlisted_target_appears(world: StatusWorld, http: httpx.Client) -> None:
    # The hidden target is down with an open incident and has a window (by tag): none of it shows.
    html = _wait_page(http, "Outage")
    assert "tagged-api</strong>: Outage" in html  # the listed one's incident does
    assert HIDDEN not in html and world.ids[HIDDEN] not in html
    assert "quokka" not in html.lower() and "secret" not in html
    assert "sat 04:00" not in html.lower()  # the hidden tag's window
    # Never an address, port, spec or maintenance reason, even of a listed target.
    assert "127.0.0.1" not in html and "tcp://" not in html
    assert not re.search(r":\d{4,5}\b", html)
    assert ">db<" not in html and "reason" not in html
    assert world.ids["public-web"] not in html  # internal ids are not for the public either


def test_the_other_page_shows_only_its_own(world: StatusWorld, http: httpx.Client) -> None:
    html = http.get("/status/other").text
    assert HIDDEN in html
    assert "public-web" not in html and "tagged-api" not in html


def test_uptime_bar_from_hourly_rollups(http: httpx.Client) -> None:
    html = http.get("/status/pub").text
    article = html.split("<h2>public-web</h2>", 1)[1].split("</article>", 1)[0]
    cells = re.findall(r'<i class="(\w+)" title="(\d{4}-\d\d-\d\d): ([^"]+)"></i>', article)
    assert len(cells) == 90
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert cells[-1][1] == today
    by_age = {89 - i: c for i, c in enumerate(cells)}
    assert by_age[1][0] == "part" and by_age[1][2] == "99.00%"  # 99 of 100: below 99.9%
    assert by_age[2][0] == "ok" and by_age[2][2] == "100%"
    assert by_age[40][0] == "bad" and by_age[40][2] == "50.00%"
    assert by_age[89][0] == "ok"
    assert by_age[10][0] == "none" and by_age[10][2] == "no data"
    total_ok = sum(ok for _, _, ok in HISTORY)
    total = sum(n for _, n, _ in HISTORY)
    # Today's live checks (one a second, all good) add to the history's figure, never take.
    shown = float(re.search(r"<span>([\d.]+)% uptime</span>", article).group(1))  # type: ignore[union-attr]
    assert total_ok / total * 100 - 0.01 <= shown <= (total_ok + 300) / (total + 300) * 100


def test_open_incidents_and_maintenance(http: httpx.Client) -> None:
    html = _wait_page(http, "Outage")
    incidents = html.split('<section class="incidents">', 1)[1].split("</section>", 1)[0]
    assert "tagged-api" in incidents and "Investigating" in incidents
    maint = html.split('<section class="maintenance">', 1)[1].split("</section>", 1)[0]
    assert "<strong>public-web</strong>: scheduled" in maint
    assert "sun" in maint.lower() and "02:00" in maint


def test_etag_and_304(http: httpx.Client) -> None:
    r = http.get("/status/style.css")
    tag = r.headers["etag"]
    again = http.get("/status/style.css", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert http.get("/status/style.css", headers={"If-None-Match": '"x"'}).status_code == 200
    page = http.get("/status/pub")
    assert page.headers["etag"].startswith('"') and page.headers["cache-control"] == "no-cache"
    # The page's ETag is its content's: unchanged content revalidates to 304.
    deadline = time.monotonic() + 10
    while True:
        first = http.get("/status/pub")
        second = http.get("/status/pub", headers={"If-None-Match": first.headers["etag"]})
        if second.status_code == 304 or time.monotonic() > deadline:
            break
    assert second.status_code == 304
    assert http.head("/status/pub").status_code == 200


def test_unknown_pages_and_badges_404(http: httpx.Client) -> None:
    assert http.get("/status/nope").status_code == 404
    assert http.get("/badge/nope/public-web/status.svg").status_code == 404
    assert http.get("/badge/pub/nobody/status.svg").status_code == 404
    assert http.get("/badge/pub/public-web/weather.svg").status_code == 404
    assert http.get("/badge/pub/public-web/status.png").status_code == 404
    unlisted = http.get(f"/badge/pub/{HIDDEN}/status.svg")
    assert unlisted.status_code == 404
    # Exactly the answer a name that exists nowhere gets: nothing to tell them apart.
    assert unlisted.content == http.get("/badge/pub/nobody/status.svg").content
    assert http.get(f"/badge/pub/{HIDDEN}/uptime.json").status_code == 404


def test_status_badge_svg_and_endpoint_json(http: httpx.Client) -> None:
    deadline = time.monotonic() + 15
    while http.get("/badge/pub/public-web/status.json").json()["message"] != "operational":
        assert time.monotonic() < deadline, "public-web never came up"
        time.sleep(0.3)
    r = http.get("/badge/pub/public-web/status.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg") and "status: operational" in r.text
    j = http.get("/badge/pub/public-web/status.json").json()
    assert j == {
        "schemaVersion": 1,
        "label": "status",
        "message": "operational",
        "color": "brightgreen",
    }
    down = http.get("/badge/pub/tagged-api/status.json").json()
    assert down["message"] in ("down", "checking") and down["color"] in ("red", "yellow")
    tag = r.headers["etag"]
    assert (
        http.get("/badge/pub/public-web/status.svg", headers={"If-None-Match": tag}).status_code
        == 304
    )


def test_uptime_and_latency_badges(http: httpx.Client) -> None:
    week = http.get("/badge/pub/public-web/uptime.json", params={"period": "7d"}).json()
    assert week["label"] == "uptime 7d"
    assert week["message"].endswith("%")
    assert 99.3 <= float(week["message"].rstrip("%")) <= 99.9  # 149 of 150, plus live checks
    month = http.get("/badge/pub/public-web/uptime.json", params={"period": "30d"}).json()
    assert month["label"] == "uptime 30d"
    svg = http.get("/badge/pub/public-web/uptime.svg", params={"period": "24h"})
    assert svg.status_code == 200 and "uptime 24h" in svg.text
    lat = http.get("/badge/pub/public-web/latency.json", params={"period": "7d"}).json()
    assert lat["label"] == "latency 7d" and lat["message"].endswith(" ms")
    assert lat["color"] == "brightgreen"  # 40 ms in the history
    assert (
        http.get("/badge/pub/public-web/latency.svg")
        .headers["content-type"]
        .startswith("image/svg+xml")
    )


def test_bad_period_is_a_clear_400(http: httpx.Client) -> None:
    r = http.get("/badge/pub/public-web/uptime.svg", params={"period": "1y"})
    assert r.status_code == 400
    assert r.json()["error"] == "period '1y' is not one of 24h, 7d, 30d"
    assert "period=7d" in r.json()["hint"]


def test_the_api_itself_still_wants_a_key(http: httpx.Client) -> None:
    assert http.get("/api/v1/targets").status_code == 401


# ---- [[status_pages]] in config.toml: clear file:line errors


def _load(tmp_path: Path, text: str) -> None:
    from engine.config.settings import load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    load_settings(cfg, tmp_path, env={})


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[[status_pages]]\nslug = "Bad Slug"\ntargets = ["a"]\n', 2, "lower-case letters"),
        ('[[status_pages]]\nslug = "p"\n', 1, "lists what it shows"),
        ('[[status_pages]]\nslug = "p"\ntargets = ["a"]\ncolour = "red"\n', 4, "unknown key"),
        ('[[status_pages]]\nslug = "p"\ntargets = [""]\n', 3, "target name is empty"),
        (
            '[[status_pages]]\nslug = "p"\ntags = ["x"]\n\n[[status_pages]]\nslug = "p"\ntags = ["y"]\n',
            6,
            "already used by status_pages[0]",
        ),
    ],
)
def test_config_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert f"config.toml:{line}:" in err.value.message
    assert words in err.value.message


def test_config_accepts_a_page(tmp_path: Path) -> None:
    from engine.config.settings import load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('[[status_pages]]\nslug = "pub"\ntitle = "T"\ntargets = ["a"]\ntags = ["web"]\n')
    page = load_settings(cfg, tmp_path, env={}).status_pages[0]
    assert (page.slug, page.title, page.targets, page.tags) == ("pub", "T", ["a"], ["web"])
    assert page.shows("a", []) and page.shows("b", ["web"]) and not page.shows("b", ["db"])


def test_a_page_added_by_sighup_is_served(world: StatusWorld, http: httpx.Client) -> None:
    import signal

    assert http.get("/status/late").status_code == 404
    cfg = world.data_dir / "config.toml"
    cfg.write_text(
        cfg.read_text() + '\n[[status_pages]]\nslug = "late"\ntargets = ["tagged-api"]\n'
    )
    world.daemon.signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while (r := http.get("/status/late")).status_code != 200:
        assert time.monotonic() < deadline, "the page added to config.toml never appeared"
        time.sleep(0.3)
    assert "tagged-api" in r.text and "public-web" not in r.text and HIDDEN not in r.text
    assert http.get("/badge/late/tagged-api/status.json").status_code == 200
    assert http.get("/badge/late/public-web/status.json").status_code == 404
