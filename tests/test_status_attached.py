"""`sysalert status --json` attached to a real daemon (issue 17): the pages come as columns
(`target_page(columns=True)`), the document printed is print_json's byte for byte over several
pages, and the attached CLI starts without importing the command layer (a second at start-up).

A real `sysalert --daemon` on a temporary store, reached over its Unix socket as the CLI does."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from engine.api import wire
from engine.api.client import PLAIN_JSON
from sysalert_tui import cli_stream
from tests.daemon_harness import Daemon, child_env, cli, running_daemon

ASK = cli_stream.STATUS_ASK
N = 23  # several pages of 5 and a short last one
QUOTE = ("", '"')


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("status") / "data") as d:
        u = d.unix()
        for i in range(N):
            # Names in another order than they are added; a non-ASCII one and a quote, which
            # the JSON written must escape as json.dumps does; paused: no probe changes a state
            # between two reads of the test.
            r = u.post(
                "/api/v1/targets",
                json={
                    "spec": f"http://user:Sekr3t{i}@127.0.0.1:{1000 + i}/",
                    "name": ("Zé" if i % 5 == 0 else "web") + f"-{(i * 7) % N:02d}" + QUOTE[i == 3],
                    "interval": "1h",
                },
            )
            assert r.status_code == 200, r.text
            assert u.post(f"/api/v1/targets/{r.json()['id']}/pause").status_code == 200
        yield d


def _page(d: Daemon, **params: Any) -> dict[str, Any]:
    r = d.unix().get("/api/v1/targets/page", params={"sort": "name", **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_columns_hold_what_the_rows_hold_and_never_a_spec(daemon: Daemon) -> None:
    rows = _page(daemon, fields=ASK, limit=100)
    cols = _page(daemon, fields=ASK, limit=100, columns="true")
    assert cols["rows"] == [] and list(cols["columns"]) == ASK.split(",")
    assert [
        dict(zip(ASK.split(","), r, strict=True))
        for r in zip(*cols["columns"].values(), strict=True)
    ] == (rows["rows"])
    assert len(rows["rows"]) == rows["total"] == N
    assert {k: v for k, v in cols.items() if k not in ("rows", "columns")} == {
        k: v for k, v in rows.items() if k != "rows"
    }
    body = json.dumps(cols)
    assert "127.0.0.1" not in body and "Sekr3t" not in body and "spec" not in body, body


def test_columns_of_a_field_that_is_no_plain_one_are_refused(daemon: Daemon) -> None:
    r = daemon.unix().get("/api/v1/targets/page", params={"fields": "id,spec", "columns": "true"})
    assert r.status_code == 400, r.text
    assert "columns needs fields" in r.json()["error"]


def test_status_json_over_several_pages_is_print_json_s_document(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_stream, "STATUS_PAGE", 5)
    rc, out, err = cli(daemon.data_dir, "status", "--json")
    assert rc == 0, err
    rows = _page(daemon, fields=ASK, limit=100)["rows"]
    stats = daemon.unix().get("/api/v1/stats").json()
    expected = {
        "down": 0,
        "partial": 0,
        "engine": {"failing": stats["failing"], "mode": stats["mode"]},
        "targets": [
            {
                "id": r["id"],
                "kind": r["kind"],
                "last_check_at": r["last_check_at"],
                "name": r["name"],
                "probe_state": r["state"],
                "state": r["shown"],
                "state_since": r["state_since"],
            }
            for r in rows
        ],
    }
    assert out == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    assert {t["state"] for t in expected["targets"]} == {"paused"}
    assert "\\u00e9" in out and '\\"' in out  # ensure_ascii and a quote, as json.dumps writes


def test_status_text_of_odd_columns_falls_back_to_the_row_way() -> None:
    """A value of a type the column encoders do not take (an int state_since, a missing name)
    is written as json.dumps would, row by row."""
    cols = {
        "shown": ["up", "down"],
        "id": ["a", "b"],
        "name": ["x", None],
        "kind": ["tcp", "tcp"],
        "state": ["up", "down"],
        "state_since": [1, 2.5],
        "last_check_at": [None, float("inf")],
    }
    text = cli_stream.status_columns_text(cols, 2)
    rows = [
        {
            "id": i,
            "kind": k,
            "last_check_at": c,
            "name": n,
            "probe_state": p,
            "state": s,
            "state_since": t,
        }
        for s, i, n, k, p, t, c in zip(*cols.values(), strict=True)
    ]
    want = json.dumps({"t": rows}, indent=2, sort_keys=True)
    assert '  "t": [\n' + text + "\n  ]" == want[2:-2]


def test_the_attached_status_does_not_import_the_command_layer(daemon: Daemon) -> None:
    code = (
        "import sys\n"
        "from sysalert_tui.cli import main\n"
        "rc = main(['status', '--json'])\n"
        "heavy = sorted(m for m in sys.modules if m == 'engine.commands' or m == 'sqlalchemy')\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(daemon.data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "0 []", r.stderr
    assert len(json.loads(r.stdout)["targets"]) == N


@pytest.mark.parametrize("command", sorted(PLAIN_JSON))
def test_commands_read_as_plain_json_return_plain_json(command: str) -> None:
    assert wire.return_type(command) == dict[str, Any]


def test_the_page_walk_streams_every_page_once_as_one_json_line_each(daemon: Daemon) -> None:
    with daemon.unix().stream(
        "GET", "/api/v1/targets/pages", params={"fields": "id,name", "limit": 4}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines()]
    assert len(lines) == -(-N // 4)
    assert [p["next"] is None for p in lines] == [False] * (len(lines) - 1) + [True]
    walked = [row["id"] for p in lines for row in p["rows"]]
    assert walked == [row["id"] for row in _page(daemon, fields="id", limit=100)["rows"]]
    assert all(set(row) == {"id", "name"} for p in lines for row in p["rows"])


def test_the_page_walk_refuses_as_the_page_does(daemon: Daemon) -> None:
    r = daemon.unix().get("/api/v1/targets/pages", params={"sort": "nope"})
    assert r.status_code == 400 and "sort" in r.json()["error"], r.text
    r = daemon.tcp().get("/api/v1/targets/pages")  # TCP without an API key
    assert r.status_code == 401, r.text
    assert "127.0.0.1:10" not in r.text


def test_the_attach_client_reads_the_walk_and_its_errors(daemon: Daemon) -> None:
    import httpx

    from engine.api.client import RemoteCommands
    from engine.core.errors import BadInput

    c = RemoteCommands(
        "http://sysalert", transport=httpx.HTTPTransport(uds=str(daemon.socket_path))
    )
    try:
        got = list(c.target_pages(sort="name", limit=10, fields=ASK, columns=True))
        assert [len(p["columns"]["id"]) for p in got] == [10, 10, N - 20]
        with pytest.raises(BadInput, match="columns needs fields"):
            list(c.target_pages(fields="spec", columns=True))
    finally:
        c.close()


def test_status_as_a_table_reads_the_same_columns(daemon: Daemon) -> None:
    rc, out, err = cli(daemon.data_dir, "status")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["STATE", "NAME", "SINCE"]
    names = [r["name"] for r in _page(daemon, fields="name", limit=100)["rows"]]
    assert len(lines) == 1 + N and all(n in out for n in names)
    assert all("paused" in line for line in lines[1:])


def test_a_client_that_leaves_mid_walk_leaves_the_daemon_answering(daemon: Daemon) -> None:
    import httpx

    for _ in range(3):
        with (
            httpx.Client(
                base_url="http://sysalert",
                transport=httpx.HTTPTransport(uds=str(daemon.socket_path)),
                timeout=10,
            ) as c,
            c.stream("GET", "/api/v1/targets/pages", params={"fields": "id", "limit": 1}) as r,
        ):
            assert json.loads(next(r.iter_lines()))["next"] is not None  # then hangs up
    with daemon.unix().stream("GET", "/api/v1/targets/pages", params={"limit": 2}) as r:
        assert sum(1 for _ in r.iter_lines()) == -(-N // 2)
    assert daemon.unix().get("/health").status_code == 200
