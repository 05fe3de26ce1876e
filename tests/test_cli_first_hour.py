"""The CLI of a new user's first hour says what it knows and errs in one line: argument mistakes
name their command, negative durations are values (and refused), `target show` opens the error
detail and a heartbeat's deadlines, system targets show their percent, and every change made
through a running daemon is recorded under the login name. A real daemon, real listeners."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.api.acting import login_name
from tests.daemon_harness import Daemon, init_store, running_daemon, wait_for
from tests.test_channel_webhook import Receiver


def cli(data_dir: Path, *argv: str) -> tuple[int, str, str]:
    """The CLI's main() in this process (attaching to the daemon when one runs), as the harness's
    cli(), with argparse's own exit (a usage error) taken as the exit code it is."""
    from sysalert_tui.cli import main

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(
                ["--data-dir", str(data_dir), "--config", str(data_dir / "config.toml"), *argv]
            )
    except SystemExit as exc:
        rc = int(exc.code or 0)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    init_store(data)
    return data


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_unknown_flag_names_its_command_and_the_flag_it_resembles(store_dir: Path) -> None:
    rc, _, err = cli(store_dir, "target", "add", "tcp://127.0.0.1:9", "--tags", "web")
    line = _one_line(err)
    assert rc == 2 and line.startswith("sysalert target add: unrecognized arguments: --tags web")
    assert "did you mean --tag?" in line and "`sysalert target add --help`" in line
    rc, _, err = cli(store_dir, "incidents", "list", "--since", "1h")
    assert rc == 2 and _one_line(err).startswith("sysalert incidents list: unrecognized")
    rc, _, err = cli(store_dir, "target")  # a missing action: one line, not the usage
    assert rc == 2 and "required: ACTION" in _one_line(err)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("target", "add", "tcp://127.0.0.1:9", "--interval", "-5s"), "interval '-5s'"),
        (("target", "add", "tcp://127.0.0.1:9", "--timeout", "-1.5s"), "timeout '-1.5s'"),
        (("incidents", "silence", "abc", "--for", "-1h"), "silence duration '-1h'"),
        (("maintenance", "on", "all", "--for", "-30m"), "--for '-30m'"),
    ],
)
def test_a_negative_duration_is_a_value_refused_in_one_line(
    store_dir: Path, argv: tuple[str, ...], says: str
) -> None:
    rc, out, err = cli(store_dir, *argv)
    assert rc == 2 and out == ""
    line = _one_line(err)
    assert line.startswith("sysalert: ") and says in line, line


def test_a_negative_chat_id_is_still_a_value(store_dir: Path) -> None:
    rc, out, err = cli(store_dir, "subscribers", "add", "-1001234567890")
    assert rc == 0 and "Traceback" not in err, err


def test_pause_and_resume_set_the_state_they_name(store_dir: Path) -> None:
    assert cli(store_dir, "target", "add", "tcp://127.0.0.1:9", "--name", "web")[0] == 0
    assert cli(store_dir, "target", "pause", "web")[1].startswith("paused ")
    rc, out, _ = cli(store_dir, "target", "pause", "web")  # not a toggle
    assert (
        rc == 0 and out.strip() == "web is already paused: `sysalert target resume web` resumes it"
    )
    assert cli(store_dir, "target", "resume", "web")[1].startswith("resumed ")
    rc, out, _ = cli(store_dir, "target", "resume", "web")
    assert rc == 0 and "web is not paused" in out
    rc, out, _ = cli(store_dir, "history", "--kind", "target", "--json")
    assert [h["action"] for h in json.loads(out)] == [
        "target.resume",
        "target.pause",
        "target.add",
    ]


def test_a_heartbeat_says_when_the_next_ping_is_due_and_when_it_goes_down(
    store_dir: Path,
) -> None:
    """Without any engine: the stored ping decides the deadlines, as the console's detail."""
    assert cli(store_dir, "target", "add", "heartbeat://beat?every=1h&grace=5m")[0] == 0
    rc, out, _ = cli(store_dir, "target", "show", "beat")
    assert "next ping due" not in out  # never pinged: it waits for the first one
    assert "goes down only after its first ping" in out, out  # and says so
    assert cli(store_dir, "ping", "beat")[0] == 0
    rc, out, _ = cli(store_dir, "target", "show", "beat")
    shown = dict(line.strip().split(": ", 1) for line in out.splitlines())
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(when + r" \(in (59m\d*s|59m|1h)\)", shown["next ping due"])
    assert re.fullmatch(f"after {when}" + r" \(in 1h[45]m\) without one", shown["goes down"])


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path / "data") as d:
        yield d


def _closed_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    return s, s.getsockname()[1]


def test_what_the_cli_shows_and_records_through_a_running_daemon(daemon: Daemon) -> None:
    data = daemon.data_dir
    closed, port = _closed_port()
    try:
        argv = ("--interval", "1s", "--down-after", "1")
        assert cli(data, "target", "add", f"tcp://127.0.0.1:{port}", "--name", "db", *argv)[0] == 0
        assert (
            cli(data, "target", "add", "system://cpu", "--name", "cpu", "--interval", "1s")[0] == 0
        )

        def checked() -> bool:
            recs = json.loads(cli(data, "target", "list", "--json")[1])
            return all(r["last_check_at"] for r in recs) and any(
                r["name"] == "db" and r["state"] == "down" for r in recs
            )

        assert wait_for(checked, timeout=30), cli(data, "target", "list")[1]
    finally:
        closed.close()

    rc, out, _ = cli(data, "target", "show", "db")
    shown = dict(line.strip().split(": ", 1) for line in out.splitlines())
    assert shown["last_error"] == f"refused: connection refused by 127.0.0.1:{port}"
    assert re.fullmatch(r"\d+(\.\d)?ms", shown["last_latency"]), shown["last_latency"]
    assert "last_error_class" not in shown and "last_latency_ms" not in shown
    rc, out, _ = cli(data, "target", "show", "cpu")
    assert re.search(r"last_value: \d+(\.\d)?%$", out, re.M) and "last_latency" not in out

    rc, out, _ = cli(data, "target", "list")
    (cpu_row,) = [line for line in out.splitlines() if re.search(r"\bcpu\b", line)]
    assert re.search(r"\d%", cpu_row) and not re.search(r"\dms", cpu_row), cpu_row

    # Every change made from the CLI names the login name, also through the daemon's API.
    with Receiver() as hook:
        assert cli(data, "contacts", "add", "hook", f"webhook:{hook.url}/h")[0] == 0
        rc, out, err = cli(data, "notify", "test", "hook")
        assert rc == 0 and out.strip() == "sent", err
    assert cli(data, "target", "edit", "db", "--interval", "2s")[0] == 0
    rc, out, _ = cli(data, "maintenance", "on", "tag:nothing")
    assert "note: no target is tagged 'nothing' yet" in out
    assert cli(data, "maintenance", "off", "db")[0] == 0
    rc, out, _ = cli(data, "history", "--json", "--limit", "20")
    made = [h for h in json.loads(out) if h["kind"] in ("target", "notify", "maintenance")]
    assert {h["action"] for h in made} >= {"target.edit", "notify.test", "maintenance.on"}
    assert {h["actor"] for h in made} == {login_name()}, made
    where = {h["action"]: h["target"] for h in made}
    assert where["maintenance.on"] == "tag:nothing" and where["maintenance.off"] == "db"
    assert where["target.edit"] == "db" and where["notify.test"] == "hook"


def test_check_shows_the_value_once_in_the_kinds_words(store_dir: Path) -> None:
    rc, out, _ = cli(store_dir, "check", "system://memory")
    assert rc == 0 and re.fullmatch(r"ok \d+(\.\d)?%\n", out), out
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        rc, out, _ = cli(store_dir, "check", f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        listener.close()
    assert rc == 0 and re.fullmatch(r"ok \d+(\.\d)?ms\n", out), out  # no `value=` beside it


def test_the_readmes_pagerduty_placeholder_is_called_one(store_dir: Path) -> None:
    rc, _, err = cli(store_dir, "contacts", "add", "pager", "pagerduty:ROUTING_KEY")
    line = _one_line(err)
    assert rc == 2 and "ROUTING_KEY is a placeholder" in line and "32-character" in line
    key = "0123456789abcdef0123456789abcdef"
    assert cli(store_dir, "contacts", "add", "pager", f"pagerduty:{key}")[0] == 0


def test_init_says_what_it_seeded_and_when_that_alerts(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    data.mkdir()
    (data / "config.toml").write_text("")  # every default: this machine's targets are seeded
    rc, out, err = cli(data, "init")
    assert rc == 0, err
    (said,) = [line for line in out.splitlines() if "cpu, memory, disk /" in line]
    assert "alert only when a level holds for 5m" in said and "not on a spike" in said
    assert "cpu above 95%" in said and "`sysalert rules list`" in said
    rc, out, _ = cli(data, "rules", "list", "--json")
    assert {(r["name"], r["target"], r["duration_s"]) for r in json.loads(out)} == {
        ("cpu high", "cpu", 300.0),
        ("memory high", "memory", 300.0),
        ("disk / full", "disk /", 300.0),
    }


@pytest.mark.parametrize(
    "argv",
    [
        ("target", "show", "\udcff"),
        ("target", "remove", "web\udced\udca0\udc80"),
        ("history", "--target", "\udcff"),
        ("incidents", "ack", "\udcff"),
        ("contacts", "remove", "\udcff"),
        ("maintenance", "on", "tag:\udcff"),
        ("ping", "\udcff"),
    ],
)
def test_an_argument_that_is_not_utf8_is_bad_input(store_dir: Path, argv: tuple[str, ...]) -> None:
    """Bytes that are not UTF-8 on the command line arrive as lone surrogates: one line, exit 2
    (it was `internal error: UnicodeEncodeError`, exit 1, from the store's encoder)."""
    rc, out, err = cli(store_dir, *argv)
    line = _one_line(err)
    assert rc == 2 and out == "", (rc, err)
    assert "not valid UTF-8" in line and "internal error" not in line, line


def test_maintenance_on_names_the_tag_and_how_to_end_it(store_dir: Path) -> None:
    """`tag:db` reads as a tag (a bare `db` would be a target), and no internal word (`toggle`)."""
    rc, out, err = cli(store_dir, "maintenance", "on", "tag:db", "--for", "1h")
    assert rc == 0, err
    first = out.splitlines()[0]
    assert first.startswith("maintenance on for tag:db, ends in 1h"), first
    assert "`sysalert maintenance off tag:db`" in first and "toggle" not in out, out
    rc, out, err = cli(store_dir, "maintenance", "on", "all")
    assert rc == 0 and out.startswith("maintenance on for all until `sysalert maintenance off"), out
