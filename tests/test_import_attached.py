"""`sysalert import` through a running daemon: checked here as a whole, sent in parts below the
daemon's [api] max_body, checked by the daemon before any part is written; a part that fails
mid-way leaves the parts before it, and the same import again resumes (export/import:
tests/test_cli_foundation.py, the batches on the store: tests/test_import_batch.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon_harness import Daemon, cli, running_daemon

MAX_BODY = 16384


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(
        tmp_path_factory.mktemp("imp") / "data", f"[api]\nmax_body = {MAX_BODY}\n"
    ) as d:
        yield d
    assert "Traceback" not in d.log(), d.log()[-2000:]


@pytest.fixture
def api(daemon: Daemon) -> Iterator[httpx.Client]:
    c = daemon.unix()
    yield c
    for r in _targets(c):  # every test starts on an empty store
        assert c.delete(f"/api/v1/targets/{r['id']}").status_code == 200


def _targets(api: httpx.Client) -> list[dict]:
    got = api.get("/api/v1/targets/page", params={"sort": "name", "limit": 25000}).json()
    return list(got["rows"])


def _entry(i: int, interval: str = "1h", **extra: str) -> str:
    more = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
    return (
        f'[[targets]]\nspec = "tcp://127.0.0.1:{1000 + i % 7}"\nname = "t-{i:05d}"\n'
        f'interval = "{interval}"\ntags = ["rack-{i % 3}", "ü"]\n{more}\n'
    )


def test_a_file_over_max_body_goes_in_parts_with_parents_first(
    daemon: Daemon, api: httpx.Client, tmp_path: Path
) -> None:
    # The first entry depends on the last, a chain runs backwards through the file: each part
    # must find the parents it names written by the parts before it.
    text = _entry(0, depends_on="t-01199") + "".join(
        _entry(i, depends_on=f"t-{i + 1:05d}") if 1190 <= i < 1199 else _entry(i)
        for i in range(1, 1200)
    )
    assert len(text.encode()) > 5 * MAX_BODY
    one = api.post("/api/v1/targets/import", json={"text": text})
    assert one.status_code == 413  # what the import did before: one request, refused
    path = tmp_path / "big.toml"
    path.write_text(text)
    rc, out, err = cli(daemon.data_dir, "import", str(path))
    assert rc == 0, err
    assert out.strip() == "imported: 1200 added, 0 updated, 0 unchanged"
    rows = {r["name"]: r for r in _targets(api)}
    assert len(rows) == 1200 and rows["t-00005"]["tags"] == ["rack-2", "ü"]
    assert rows["t-00000"]["parent_id"] == rows["t-01199"]["id"]
    assert rows["t-01190"]["parent_id"] == rows["t-01191"]["id"]
    assert "413" not in daemon.log()
    # The engine holds every one (told a batch at a time), and with the parent the file gave.
    assert api.get("/api/v1/stats").json()["targets"] == 1200
    live = api.get("/api/v1/targets/t-00000").json()
    assert live["parent_id"] == rows["t-01199"]["id"] and live["interval_s"] == 3600
    # Again with 300 changed: updates go in parts too, the rest stay untouched.
    path.write_text(
        text.replace('interval = "1h"', 'interval = "2h"', 300).replace(
            'depends_on = "t-01199"', 'depends_on = "t-00001"', 1
        )
    )
    rc, out, err = cli(daemon.data_dir, "import", str(path))
    assert rc == 0, err
    assert out.strip() == "imported: 0 added, 300 updated, 900 unchanged"
    rows = {r["name"]: r for r in _targets(api)}
    assert rows["t-00299"]["interval_s"] == 7200 and rows["t-00300"]["interval_s"] == 3600
    assert api.get("/api/v1/targets/t-00299").json()["interval_s"] == 7200
    assert rows["t-00000"]["parent_id"] == rows["t-00001"]["id"]


def test_a_bad_file_is_refused_here_before_any_part_is_sent(
    daemon: Daemon, api: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    good = "".join(_entry(i) for i in range(600))
    for bad, words in (
        (good + '[[targets]]\nspec = "tcp://nohost"\nname = "x"\n', (str(path), "targets[600]")),
        (good + _entry(3), ("'t-00003' is given twice", "entries 4 and 601")),
        (good + _entry(900, depends_on="nowhere"), ("entry 601", "'nowhere', which is not")),
        (
            "".join(
                _entry(i, depends_on=f"t-{3 - i:05d}") if i in (1, 2) else _entry(i)
                for i in range(600)
            ),
            ("entry 2", "depends on itself"),
        ),
    ):
        path.write_text(bad)
        rc, _, err = cli(daemon.data_dir, "import", str(path))
        assert rc == 2 and all(w in err for w in words), err
        assert _targets(api) == []
    # What only the daemon can judge (a disk path on its machine) it checks, part by part,
    # before any part is written.
    path.write_text(good + '[[targets]]\nspec = "system://disk:/no/such/mount"\nname = "d"\n')
    rc, _, err = cli(daemon.data_dir, "import", str(path))
    assert rc == 2 and "does not exist here" in err and "stopped at part" not in err, err
    assert _targets(api) == []


def test_a_part_failing_mid_way_keeps_the_parts_before_and_the_same_import_resumes(
    daemon: Daemon, api: httpx.Client, tmp_path: Path
) -> None:
    """A parent removed by someone else between two parts: the part naming it fails as a whole,
    the error says what was written, and the same file again adds what is missing."""
    from engine.api.client import connect_if_running
    from engine.config.settings import load_settings
    from engine.core.errors import BadInput
    from sysalert_tui.cli_import import import_attached

    text = "".join(_entry(i) for i in range(1199)) + _entry(1199, depends_on="t-00000")
    settings = load_settings(daemon.data_dir / "config.toml", daemon.data_dir, env={})
    remote = connect_if_running(settings)
    assert remote is not None
    seen: list[int] = []

    def meanwhile(done: int, total: int) -> None:
        if not seen:  # after the first part: its first target goes
            assert api.delete("/api/v1/targets/t-00000").status_code == 200
        seen.append(done)

    try:
        with pytest.raises(BadInput) as err:
            import_attached(remote, text, "f.toml", settings, meanwhile)
    finally:
        remote.close()
    written = seen[-1]
    assert 0 < written < 1200 and len(seen) >= 5
    msg = str(err.value)
    assert "'t-00000', which is not a target" in msg
    assert f"stopped at part {len(seen) + 1} of {len(seen) + 1}" in msg
    assert f"{written} of 1200 targets were written before it" in msg
    assert "run the same import again" in msg
    assert len(_targets(api)) == written - 1
    path = tmp_path / "again.toml"
    path.write_text(text)
    rc, out, err2 = cli(daemon.data_dir, "import", str(path))
    assert rc == 0, err2
    assert out.strip() == (
        f"imported: {1200 - written + 1} added, 0 updated, {written - 1} unchanged"
    )
    rows = {r["name"]: r for r in _targets(api)}
    assert len(rows) == 1200 and rows["t-01199"]["parent_id"] == rows["t-00000"]["id"]


@pytest.mark.parametrize("attached", [True, False])
def test_on_a_terminal_both_ways_draw_the_same_bar(
    daemon: Daemon, api: httpx.Client, tmp_path: Path, attached: bool
) -> None:
    """stderr a real pseudo-terminal: the rich bar counts the targets written, part by part
    attached, batch by batch embedded, and goes away for the one-line summary."""
    import os
    import pty
    import subprocess
    import sys

    from tests.daemon_harness import ROOT, child_env, init_store

    data = daemon.data_dir if attached else tmp_path / "embedded"
    if not attached:
        init_store(data)
    path = tmp_path / "t.toml"
    path.write_text("".join(_entry(i) for i in range(1200)))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sysalert_tui", "import", str(path)],
        env=dict(child_env(data), COLUMNS="100", TERM="xterm"),
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=ROOT,
    )
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait(60) == 0, drawn[-500:]
    os.close(master)
    assert out.strip() == "imported: 1200 added, 0 updated, 0 unchanged"
    screen = drawn.decode(errors="replace")
    assert "importing" in screen and "/1200" in screen, screen[-500:]


def test_parts_hold_at_most_a_thousand_entries_and_fit_the_body() -> None:
    from engine.commands.targets_io import toml_entry
    from sysalert_tui.cli_import import _parts

    texts = [toml_entry({"spec": f"tcp://127.0.0.1:{i}", "name": f"ü-{i}"}) for i in range(2500)]
    order = list(range(2500))[::-1]
    assert [len(p) for p in _parts(texts, order, 1 << 24)] == [1000, 1000, 500]
    parts = list(_parts(texts, order, MAX_BODY))
    assert [i for p in parts for i in p] == order and len(parts) > 10
    for p in parts:
        body = json.dumps({"text": "\n".join(texts[i] for i in p), "added_before": 99999})
        assert len(body) <= MAX_BODY


def test_an_entry_sent_on_reads_back_as_the_file_gave_it() -> None:
    import datetime
    import tomllib

    from engine.commands.targets_io import toml_entry

    raw = tomllib.loads(
        '[[targets]]\nspec = "https://h/x?a=1&b=\\"2\\""\nname = "quote \\"me\\" ü"\n'
        'interval = "2m"\ntags = ["a", "b c"]\nconditions = ["[STATUS] == 200"]\n'
        'options = { follow_redirects = false, headers = { "X-Token" = "s3cret" }, n = 1.5 }\n'
        "failure_threshold = 3\nwhen = 1979-05-27T07:32:00Z\nday = 1979-05-27\n"
    )["targets"][0]
    assert isinstance(raw["when"], datetime.datetime)
    assert tomllib.loads(toml_entry(raw)) == {"targets": [raw]}
