"""A config the engine cannot run is refused where it is loaded, by every entry point: the daemon,
the console and each CLI command give one line with file:line and exit 2; a running daemon's
SIGHUP logs the same line and keeps its config (issue 15). Real processes, real files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.daemon_harness import ROOT, child_env, init_store, running_daemon

BAD_CONDITION = (
    '\n[[targets]]\nspec = "http://127.0.0.1:9/"\nname = "bad-cond"\n'
    'conditions = ["[STATUS] === 1"]\n'
)


def run(env: dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysalert_tui", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("sysalert:")]
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.slow
def test_bad_declared_condition_stops_every_entry_point_with_file_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_store(data)
    with open(data / "config.toml", "a") as cfg:
        cfg.write(BAD_CONDITION)
    env = child_env(data)
    for argv in (
        ["--daemon"],
        [],  # the console, before any screen
        ["status"],
        ["target", "list"],
        ["check", "bad-cond"],  # by name: it reads the config (a bare spec needs none)
        ["rules", "list"],
    ):
        out = run(env, *argv)
        assert out.returncode == 2, (argv, out.stderr)
        line = one_line(out)
        assert f"{data / 'config.toml'}:" in line and "targets[0].conditions" in line, line
        assert "'===' is not an operator" in line


@pytest.mark.slow
def test_depends_on_naming_nothing_stops_the_daemon_with_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_store(data, '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "x"\ndepends_on = "ghost"\n')
    out = run(child_env(data), "--daemon")
    assert out.returncode == 2, out.stderr
    line = one_line(out)
    assert "config.toml:" in line and "'ghost', which is not a target" in line


@pytest.mark.slow
def test_unusable_config_files_are_one_line_and_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_store(data)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(bytes(range(256)) * 16)
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    cases = {
        str(tmp_path / "nope.toml"): "does not exist",
        str(tmp_path): "is a directory",
        str(binary): "not a text file",
        str(deep): "nested too deeply",
    }
    for path, said in cases.items():
        env = {**child_env(data), "SYSALERT_CONFIG": path}
        for argv in (["status"], ["--daemon"]):
            out = run(env, *argv)
            assert out.returncode == 2, (path, argv, out.stderr)
            assert said in one_line(out), (path, out.stderr)
    env = {**child_env(data), "SYSALERT_DATABASE_URL": "mysql://u@db.example/x"}
    out = run(env, "status")
    assert out.returncode == 2
    line = one_line(out)
    assert "'mysql'" in line and "postgresql+psycopg" in line and "db.example" not in line


@pytest.mark.slow
def test_init_creates_the_named_config_and_the_default_place_may_be_empty(tmp_path: Path) -> None:
    """`sysalert init` writes the file SYSALERT_CONFIG (or --config) names; before it, commands
    run on defaults only where no file was named (the default place), and refuse a named one."""
    data = tmp_path / "data"
    named = tmp_path / "etc" / "sysalert.toml"
    env = {**child_env(data), "SYSALERT_CONFIG": str(named)}
    assert run(env, "status").returncode == 2
    assert run(env, "init").returncode == 0 and named.exists()
    assert run(env, "status").returncode == 0
    other = tmp_path / "other.toml"
    out = run(child_env(data), "--config", str(other), "init")
    assert out.returncode == 0 and other.exists(), out.stderr
    fresh = tmp_path / "fresh"
    env = child_env(fresh)
    env.pop("SYSALERT_CONFIG")
    out = run(env, "check", "tcp://127.0.0.1:9")  # no init, no file: defaults
    assert out.returncode == 1 and "refused" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow
def test_sighup_logs_a_bad_declared_target_and_keeps_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_daemon(data, '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "keep"\n') as d:
        cfg = data / "config.toml"
        good = cfg.read_text()
        for broken, said in (
            (good + BAD_CONDITION, "'===' is not an operator"),
            (good.replace('name = "keep"', 'name = "keep"\nfailure_threshold = 0'), "1 to 100"),
        ):
            cfg.write_text(broken)
            mark = len(d.log())
            d.signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while "reload rejected" not in d.log()[mark:]:
                assert time.monotonic() < deadline, d.log()[mark:]
                time.sleep(0.1)
            logged = d.log()[mark:]
            assert "config.toml:" in logged and said in logged, logged
            assert d.proc.poll() is None
            names = [t["name"] for t in d.unix().get("/api/v1/targets").json()]
            assert names == ["keep"]
        assert httpx.get(d.base_url + "/health").status_code == 200
