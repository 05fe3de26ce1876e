"""The CLI commands that need no running engine: init, target, export/import, key errors, exit codes."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine import __version__
from engine.security.crypto import KEY_FILE_NAME, new_master_key
from sysalert_tui.cli import main

SA = str(Path(sys.executable).parent / "sysalert")
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """main() installs its stderr handler on the root logger; take it off after each test."""
    yield
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_sysalert", False):
            root.removeHandler(h)


@pytest.fixture
def run(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    return _run


@pytest.fixture
def initialised(run: Run, data_dir: Path) -> Path:
    rc, out, err = run("init")
    assert rc == 0, err
    return data_dir


def _one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysalert: "), err
    return lines[0]


def test_version_and_help_as_a_process() -> None:
    r = subprocess.run([SA, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == f"sysalert {__version__}"


def test_help_lists_the_commands(run: Run) -> None:
    rc, out, _ = run("--help")
    assert rc == 0
    for cmd in (
        "init",
        "target",
        "export",
        "import",
        "rotate-keys",
        "--version",
        "--data-dir",
        "--config",
    ):
        assert cmd in out
    rc, out, _ = run("target", "--help")
    assert rc == 0 and all(a in out for a in ("add", "list", "show", "remove"))


def test_init_creates_private_key_and_dir_and_keeps_the_key(run: Run, data_dir: Path) -> None:
    rc, out, err = run("init")
    assert rc == 0, err
    key = data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "config.toml").exists() and (data_dir / "sysalert.db").exists()
    assert "created" in out
    before = key.read_bytes()
    rc, out, err = run("init")
    assert rc == 0, err
    assert key.read_bytes() == before and "(kept)" in out
    cfg = data_dir / "config.toml"
    cfg.write_text("[engine]\nretries = 1\n")
    rc, out, err = run("init", "--force")  # rewrites the config, never the key
    assert rc == 0, err
    assert key.read_bytes() == before and "(kept)" in out.split("master key")[1]
    assert "[engine]" in cfg.read_text() and "retries = 0" in cfg.read_text()


def test_target_add_list_show_remove(run: Run, initialised: Path) -> None:
    rc, out, err = run(
        "target",
        "add",
        "tcp://10.77.66.55:45678",
        "--name",
        "zebra",
        "--interval",
        "1m",
        "--tag",
        "db",
        "--condition",
        "[CONNECTED] == true",
        "--json",
    )
    assert rc == 0, err
    added = json.loads(out)
    assert added["name"] == "zebra" and added["kind"] == "tcp" and added["interval_s"] == 60
    assert added["spec"] == "tcp://10.77.66.55:45678" and added["tags"] == ["db"]
    rc, out, _ = run("target", "add", "heartbeat://nightly?every=1d&grace=1h", "--json")
    assert rc == 0 and json.loads(out)["ping_url"].startswith("http://127.0.0.1:8787/ping/")

    rc, out, _ = run("target", "list", "--json")
    listed = {t["name"]: t for t in json.loads(out)}
    assert rc == 0 and {"zebra", "nightly", "cpu", "memory", "disk /"} <= set(listed)
    assert listed["zebra"]["id"] == added["id"] and listed["zebra"]["state"] == "unknown"
    rc, out, _ = run("target", "list")
    assert (
        rc == 0 and "ZEBRA" not in out and "zebra" in out and out.splitlines()[0].startswith("ID")
    )

    for ref in ("zebra", added["id"]):
        rc, out, _ = run("target", "show", ref, "--json")
        assert rc == 0 and json.loads(out)["spec"] == "tcp://10.77.66.55:45678"
    rc, out, _ = run("target", "show", "zebra")
    assert rc == 0 and "10.77.66.55:45678" in out

    rc, out, err = run("target", "add", "tcp://other:1", "--name", "zebra")
    assert rc == 2 and "already exists" in _one_line_error(err)

    rc, out, err = run("target", "edit", "zebra", "--down-after", "3", "--up-after", "2", "--json")
    assert rc == 0, err
    assert (json.loads(out)["failure_threshold"], json.loads(out)["recovery_threshold"]) == (3, 2)
    rc, out, err = run("target", "edit", "zebra", "--down-after", "0")
    assert rc == 2 and "failure_threshold '0' must be a whole number from 1 to 100" in err
    rc, out, _ = run("target", "show", "zebra", "--json")
    assert json.loads(out)["failure_threshold"] == 3  # the bad edit changed nothing

    rc, out, _ = run("target", "remove", "zebra")
    assert rc == 0 and out.startswith(f"removed {added['id']} zebra")
    rc, _, err = run("target", "show", "zebra")
    assert rc == 2 and "no target 'zebra'" in _one_line_error(err)
    rc, out, _ = run("target", "list", "--json")
    assert "zebra" not in {t["name"] for t in json.loads(out)}
    # Every change is in the audit log under the login name of who ran the CLI.
    from engine.api.acting import login_name
    from engine.commands import Commands
    from engine.config.settings import load_settings
    from engine.runtime.bootstrap import open_store

    settings = load_settings(None, initialised, env={"SYSALERT_DATA_DIR": str(initialised)})
    store = open_store(settings)
    try:
        history = Commands(store, settings).history(limit=50)
    finally:
        store.close()
    actors = [h["actor"] for h in history if h["action"].startswith("target.")]
    assert sorted(set(actors)) == sorted({login_name(), "seed"})  # init seeds cpu, memory, disk
    assert actors.count("seed") == 3


def test_history_lists_who_changed_what_and_checks_its_arguments(
    run: Run, initialised: Path
) -> None:
    assert run("target", "add", "tcp://127.0.0.1:9", "--name", "gnu")[0] == 0
    assert run("maintenance", "on", "gnu", "--for", "1h")[0] == 0
    assert run("bench", "add", "cpu", "--name", "cpu-score")[0] == 0
    assert run("contacts", "add", "oncall", "webhook:http://127.0.0.1:9/hook")[0] == 0
    rc, out, err = run("history", "--json")
    assert rc == 0, err
    seen = {(h["action"], h["target"]) for h in json.loads(out)}
    assert {
        ("target.add", "gnu"),
        ("maintenance.on", "gnu"),
        ("benchmark.add", "cpu-score"),
        ("contact.add", "oncall"),
    } <= seen
    rc, out, _ = run("history", "--target", "gnu", "--kind", "maintenance")
    lines = out.splitlines()
    assert rc == 0 and lines[0].split()[:3] == ["TIME", "(UTC)", "EVENT"]
    assert len(lines) == 2 and "maintenance.on" in lines[1] and " gnu " in lines[1]
    rc, _, err = run("history", "--limit", "0")
    assert rc == 2 and "'0' is not a number from 1 to 1000" in err
    rc, _, err = run("history", "--target", "nope")
    assert rc == 2 and "no target 'nope'" in _one_line_error(err)


def test_heartbeat_shows_its_schedule_and_how_to_ping_it(run: Run, initialised: Path) -> None:
    """A push check has no probe interval of ours: the CLI names the expected period and grace,
    and says that the ping URL needs a TCP listener, which no engine here has yet."""
    rc, out, err = run("target", "add", "heartbeat://backup?every=1h&grace=10m")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("backup (heartbeat, expects a ping every 1h with 10m grace)")
    assert lines[1].startswith("ping URL: http://127.0.0.1:8787/ping/")
    assert lines[2].startswith("note: nothing listens on TCP for pings yet")
    assert "`sysalert ping backup`" in lines[2] and "--listen" in lines[2]
    rc, out, _ = run("target", "show", "backup")
    shown = dict(line.strip().split(": ", 1) for line in out.splitlines())
    assert shown["expects"] == "a ping every 1h with 10m grace"
    assert shown["heartbeat"] == (
        "never pinged, expected every 1h with 10m grace; it goes down only after its first ping"
    )
    assert "interval_s" not in shown and shown["ping_url"] == lines[1].split(": ", 1)[1]
    rc, out, _ = run("target", "show", "backup", "--json")
    beat = json.loads(out)["heartbeat"]
    assert (beat["status"], beat["listening"], beat["last_ping_at"]) == ("unknown", False, None)
    rc, out, _ = run("target", "list")
    row = next(line for line in out.splitlines() if " backup " in line)
    assert " 1h+10m " in row  # the expected period and grace, not the evaluation tick
    rc, out, err = run("ping", "backup")  # no daemon, no console: kept for the next start
    assert rc == 0 and out.startswith("stored ping of backup (success): no engine runs now"), err
    rc, out, _ = run("ping", "backup", "--json")
    assert json.loads(out)["stored_for_replay"] is True
    rc, _, err = run("ping", "cpu")
    assert rc == 2 and "'cpu' is a system check, not a heartbeat" in _one_line_error(err)
    rc, _, err = run("ping", "backup", "later")
    assert rc == 2 and "'later' is not a ping" in _one_line_error(err)


def test_bad_spec_exits_2_with_one_line_as_a_process(initialised: Path) -> None:
    r = subprocess.run(
        [SA, "target", "add", "tcp://nohost"],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ),
    )
    assert r.returncode == 2
    line = _one_line_error(r.stderr)
    assert "no port" in line and "tcp://10.0.0.5:22" in line
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("target", "add", "foo://x"), "scheme 'foo' is unknown"),
        (("target", "add", "tcp://h:1", "--interval", "soon"), "interval 'soon' is not a duration"),
        (("target", "add", "tcp://h:1", "--interval", "0.1s"), "too short"),
        (("target", "add", "tcp://h:1", "--option", "novalue"), "is not KEY=VALUE"),
        (("import", "/nonexistent/file.toml"), "cannot read"),
    ],
)
def test_bad_input_exits_2(run: Run, initialised: Path, argv: tuple[str, ...], says: str) -> None:
    rc, out, err = run(*argv)
    assert rc == 2 and says in _one_line_error(err)


def test_missing_key_is_a_clear_error(run: Run, initialised: Path) -> None:
    (initialised / KEY_FILE_NAME).unlink()
    rc, _, err = run("target", "list")
    assert rc == 2
    line = _one_line_error(err)
    assert "no master key" in line and "sysalert init" in line


def test_wrong_key_is_a_clear_error(
    run: Run, initialised: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSALERT_MASTER_KEY", base64.b64encode(new_master_key()).decode())
    rc, _, err = run("target", "list")
    assert rc == 2 and "the master key does not open this store" in _one_line_error(err)
    monkeypatch.setenv("SYSALERT_MASTER_KEY", "garbage")
    rc, _, err = run("target", "list")
    assert rc == 2 and "SYSALERT_MASTER_KEY" in _one_line_error(err)


def test_env_key_alone_works(run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSALERT_MASTER_KEY", base64.b64encode(new_master_key()).decode())
    rc, out, err = run("init")
    assert rc == 0, err
    assert "from SYSALERT_MASTER_KEY" in out and not (data_dir / KEY_FILE_NAME).exists()
    rc, _, err = run("target", "add", "tcp://h:1", "--name", "h")
    assert rc == 0, err


def test_export_import_round_trip(
    run: Run, initialised: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        run(
            "target",
            "add",
            "https://secret-panel.example.org:8443/healthz",
            "--name",
            'quote "me"',
            "--interval",
            "2m",
            "--timeout",
            "3s",
            "--tag",
            "web",
            "--tag",
            "prod",
            "--condition",
            "[STATUS] == 200",
        )[0]
        == 0
    )
    assert run("target", "add", "cmd:/opt/check --warn 80", "--name", "checker")[0] == 0
    rc, _, err = run(
        "target",
        "add",
        "https://api.example.org/v1",
        "--name",
        "api",
        "--option",
        "follow_redirects=false",
        "--option",
        "header.X-Token=s3cret",
        "--option",
        "expect_status=2xx,301",
        "--depends-on",
        "checker",
        "--down-after",
        "3",
        "--up-after",
        "2",
    )
    assert rc == 0, err
    assert run("target", "add", "heartbeat://nightly?every=1d&grace=2h")[0] == 0
    rc, exported, _ = run("export")
    assert rc == 0 and "[[targets]]" in exported
    _, listed, _ = run("target", "list", "--json")
    path = tmp_path / "targets.toml"
    path.write_text(exported)

    other = tmp_path / "other"
    monkeypatch.setenv("SYSALERT_DATA_DIR", str(other))
    monkeypatch.setenv("SYSALERT_CONFIG", str(other / "config.toml"))
    other.mkdir()
    (other / "config.toml").write_text("[engine]\nseed_local_targets = false\n")
    assert run("init")[0] == 0
    rc, out, err = run("import", str(path))
    assert rc == 0, err
    assert out.strip() == "imported: 7 added, 0 updated, 0 unchanged"
    _, relisted, _ = run("target", "list", "--json")

    def shape(text: str) -> list[tuple]:
        keys = (
            "name",
            "spec",
            "kind",
            "interval_s",
            "timeout_s",
            "tags",
            "conditions",
            "options",
            "failure_threshold",
            "recovery_threshold",
        )
        targets = json.loads(text)
        names = {t["id"]: t["name"] for t in targets}
        return sorted(
            (*(json.dumps(t[k]) for k in keys), names.get(t["parent_id"])) for t in targets
        )

    assert shape(relisted) == shape(listed)
    rc, out, _ = run("import", str(path))  # unchanged: nothing is written, and it says so
    assert rc == 0 and out.strip() == "imported: 0 added, 0 updated, 7 unchanged"
    assert run("target", "list", "--json")[1] == relisted
    api = next(t for t in json.loads(relisted) if t["name"] == "api")
    assert api["options"] == {
        "follow_redirects": False,
        "headers": {"X-Token": "s3cret"},
        "expect_status": "2xx,301",
    }
    before = run("target", "list", "--json")[1]
    path.write_text(
        "[[targets]]\nspec = 'tcp://127.0.0.1:1'\nname = 'a'\ndepends_on = 'b'\n"
        "[[targets]]\nspec = 'tcp://127.0.0.1:2'\nname = 'b'\ndepends_on = 'a'\n"
    )
    rc, _, err = run("import", str(path))
    assert rc == 2 and "depends on itself" in _one_line_error(err)
    assert run("target", "add", "tcp://127.0.0.1:3", "--name", "p")[0] == 0
    assert run("target", "add", "tcp://127.0.0.1:4", "--name", "q", "--depends-on", "p")[0] == 0
    before = run("target", "list", "--json")[1]
    path.write_text(  # q keeps its stored parent p; p now depending on q closes a cycle
        "[[targets]]\nspec = 'tcp://127.0.0.1:4'\nname = 'q'\ninterval = '45s'\n"
        "[[targets]]\nspec = 'tcp://127.0.0.1:3'\nname = 'p'\ndepends_on = 'q'\n"
    )
    rc, _, err = run("import", str(path))
    assert rc == 2 and "depends on itself" in _one_line_error(err)
    assert run("target", "list", "--json")[1] == before
    path.write_text("[[targets]]\nspec = 'tcp://127.0.0.1:1'\nname = 'a'\ndepends_on = 'zz'\n")
    rc, _, err = run("import", str(path))
    assert rc == 2 and "'zz', which is not a target" in _one_line_error(err)
    assert run("target", "list", "--json")[1] == before  # nothing was written
    path.write_text("[[targets]]\nspec = 'tcp://nohost'\n")
    rc, _, err = run("import", str(path))
    assert rc == 2 and "targets[0]" in _one_line_error(err)


def test_config_error_exits_2_with_file_and_line(run: Run, initialised: Path) -> None:
    cfg = initialised / "config.toml"
    cfg.write_text("[general]\nlog_level = 'info'\n\n[engine]\nconcurency = 5\n")
    rc, _, err = run("target", "list")
    assert rc == 2
    line = _one_line_error(err)
    assert f"{cfg}:5" in line and "did you mean 'concurrency'" in line
    cfg.write_text("[engine\n")
    rc, _, err = run("target", "list")
    assert rc == 2 and "line 1" in _one_line_error(err) and str(cfg) in err


def test_status_exits_1_for_a_down_target_unless_its_outage_is_planned(
    run: Run, initialised: Path
) -> None:
    """`sysalert status` in a script: a down target fails it; in maintenance or paused, the same
    target is shown so and does not (without an engine, from the store and the windows)."""
    from engine.config.settings import load_settings
    from engine.runtime.bootstrap import open_store
    from engine.store import targets as tstore

    assert run("target", "add", "tcp://127.0.0.1:9", "--name", "db")[0] == 0
    settings = load_settings(None, initialised, env={"SYSALERT_DATA_DIR": str(initialised)})
    store = open_store(settings)
    try:
        rec = tstore.find(store, "db")
        rec.state = "down"  # what an engine left in the store
        tstore.save(store, rec)
    finally:
        store.close()
    rc, out, _ = run("status")
    assert rc == 1 and "✖ down" in next(line for line in out.splitlines() if " db " in line)
    assert run("maintenance", "on", "db", "--for", "1h")[0] == 0
    rc, out, _ = run("status", "--json")
    db = next(t for t in json.loads(out)["targets"] if t["name"] == "db")
    assert rc == 0 and (db["state"], db["probe_state"]) == ("maintenance", "down")
    assert json.loads(out)["down"] == 0
    assert run("maintenance", "off", "db")[0] == 0
    assert run("status")[0] == 1
    assert run("target", "pause", "db")[0] == 0
    rc, out, _ = run("status")
    assert rc == 0 and "paused" in next(line for line in out.splitlines() if " db " in line)


def test_edit_merges_options_and_sets_or_clears_a_parent(run: Run, initialised: Path) -> None:
    assert run("target", "add", "tcp://127.0.0.1:9", "--name", "router")[0] == 0
    assert run("target", "add", "https://example.org/", "--name", "web")[0] == 0
    rc, out, err = run(
        "target", "edit", "web", "--option", "keyword=ok", "--option", "verify_tls=false"
    )
    assert rc == 0, err
    rc, out, err = run(
        "target", "edit", "web", "--option", "keyword=", "--depends-on", "router", "--json"
    )
    assert rc == 0, err
    web = json.loads(out)
    assert web["options"] == {"verify_tls": False}  # merged, then keyword= removed it
    router_id = json.loads(run("target", "show", "router", "--json")[1])["id"]
    assert web["parent_id"] == router_id
    rc, _, err = run("target", "edit", "router", "--depends-on", "web")
    assert rc == 2 and "cannot depend on a target that depends on it" in _one_line_error(err)
    rc, _, err = run("target", "edit", "web", "--depends-on", "web")
    assert rc == 2 and "cannot depend" in err
    rc, out, _ = run("target", "edit", "web", "--depends-on", "", "--json")
    assert json.loads(out)["parent_id"] is None
    rc, _, err = run("target", "edit", "web", "--option", "follow_redirect=false")
    assert rc == 2 and "did you mean 'follow_redirects'?" in err


def test_list_commands_take_limits_and_every_audited_kind(run: Run, initialised: Path) -> None:
    rc, _, err = run("incidents", "list", "--limit", "0")
    assert rc == 2 and "limit 0 is out of range" in _one_line_error(err)
    rc, _, err = run("incidents", "list", "--limit", "many")
    assert rc == 2 and "not a whole number" in err
    assert run("incidents", "list", "--limit", "5", "--json") == (0, "[]\n", "")
    rc, _, err = run(
        "rules", "add", "hot", "--metric", "system.cpu", "--when", "> 90", "--target", "cpu"
    )
    assert rc == 0, err
    rc, out, _ = run("history", "--kind", "rule", "--json")
    mine = [h["action"] for h in json.loads(out) if h["actor"] != "seed"]  # init seeds 3 rules
    assert rc == 0 and mine == ["rule.add"]
    for cmd, words in (("contacts", "list"), ("notify", "test"), ("rules", "disable")):
        rc, out, _ = run(cmd, "--help")
        assert rc == 0 and words in out


def test_a_gatus_condition_no_probe_can_fill_is_refused_with_the_reason(
    run: Run, initialised: Path
) -> None:
    rc, _, err = run(
        "target", "add", "https://example.org/", "--condition", "[DOMAIN_EXPIRATION] > 720h"
    )
    assert rc == 2 and "does not look up domain registrations" in _one_line_error(err)
    assert "[CERTIFICATE_EXPIRATION] > 720h" in err
