"""The console as a user starts it: embedded engine serving the socket API, first run on a fresh
machine in a real terminal (tmux), attaching to a running daemon, and a clean quit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from engine.api.client import connect_if_running
from screens.targets import TargetsScreen
from sysalert_tui.console import EmbeddedRuntime
from tests.console_fixture import fresh_world, make_app, settle, wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.anyio
async def test_embedded_engine_serves_the_socket_api_and_quits_cleanly(tmp_path: Path) -> None:
    with fresh_world(tmp_path, live=True) as w:
        sock = w.settings.socket_path
        app = make_app(w.backend, runtime=EmbeddedRuntime(w.engine, sock))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: w.engine.running and sock.exists())

            def from_another_shell() -> dict:
                remote = connect_if_running(w.settings)
                assert remote is not None
                try:
                    remote.add_target(spec="tcp://127.0.0.1:6554", name="via-socket")
                    return remote.target_states()
                finally:
                    remote.close()

            states = await anyio.to_thread.run_sync(from_another_shell)
            assert states["tbackup"] == "maintenance"
            rows = app.screen_stack[0]
            assert isinstance(rows, TargetsScreen)
            await wait_until(pilot, lambda: "via-socket" in {r.name for r in rows.rows.view})
            started = time.monotonic()
            await pilot.press("q")
            await settle(pilot)
        assert time.monotonic() - started < 4
        assert not w.engine.running and not sock.exists()


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def _screen(session: str, want: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _tmux("capture-pane", "-p", "-t", session)
        if want in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{want!r} never showed; the screen was:\n{text}")


@pytest.mark.slow
@pytest.mark.needs("tmux")  # a real terminal
def test_first_run_in_a_real_terminal_then_attach_to_a_daemon(tmp_path: Path) -> None:
    data = tmp_path / "d"
    env = {
        **os.environ,
        "SYSALERT_DATA_DIR": str(data),
        "SYSALERT_CONFIG": str(data / "config.toml"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SYSALERT_MASTER_KEY", None)
    session = f"sa-test-{os.getpid()}"
    cmd = f"cd {ROOT} && {sys.executable} -m sysalert_tui; echo EXIT=$?; sleep 30"
    envs = [
        arg
        for k in ("SYSALERT_DATA_DIR", "SYSALERT_CONFIG", "PYTHONPATH")
        for arg in ("-e", f"{k}={env[k]}")
    ]
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", *envs, cmd],
        check=True,
        env=env,
    )
    try:
        screen = _screen(session, "disk /")  # the first run seeded this machine's targets
        assert "embedded" in screen
        said = _screen(session, "First start")  # and says what it added and when it alerts
        assert "alert only when" in " ".join(said.split()), said
        assert (data / "master.key").stat().st_mode & 0o777 == 0o600
        _tmux("send-keys", "-t", session, "?")
        assert "Everywhere" in _screen(session, "Keys")
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.3)
        _tmux("send-keys", "-t", session, "q")
        screen = _screen(session, "EXIT=0", timeout=5)
        assert "Traceback" not in screen
    finally:
        _tmux("kill-session", "-t", session)

    daemon = subprocess.Popen(
        [sys.executable, "-m", "sysalert_tui", "--daemon"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stderr is not None
        for line in daemon.stderr:
            if "ready" in line:
                break
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", *envs, cmd],
            check=True,
            env=env,
        )
        screen = _screen(session, "disk /")
        assert "attached" in screen
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sysalert_tui",
                "target",
                "add",
                "tcp://127.0.0.1:9",
                "--name",
                "via-daemon",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=30,
        )
        _screen(session, "via-daemon")  # the daemon's event stream reaches the attached console
        _tmux("send-keys", "-t", session, "q")
        assert "Traceback" not in _screen(session, "EXIT=0", timeout=5)
        assert daemon.poll() is None  # quitting an attached console leaves the daemon running
    finally:
        _tmux("kill-session", "-t", session)
        daemon.terminate()
        daemon.wait(10)


@pytest.mark.anyio
async def test_an_engine_that_cannot_start_is_said_in_the_status_bar(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the socket's directory should be")
    with fresh_world(tmp_path, live=True) as w:
        app = make_app(w.backend, runtime=EmbeddedRuntime(w.engine, blocker / "sysalert.sock"))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: "engine stopped" in str(app.stats.get("last_error")))
            bar = app.screen.query_one("StatusBar")
            await wait_until(pilot, lambda: "engine stopped" in str(bar.render()))
            await pilot.press("q")


@pytest.mark.anyio
async def test_a_crashing_task_shows_in_the_status_bar_only_while_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.core import faults

    faults._raised.clear()
    monkeypatch.setenv("SYSALERT_FAULT", "raise:rules:2")  # 1 s + 2 s of backoff, then 5 s stable
    with fresh_world(tmp_path, live=True) as w:
        app = make_app(w.backend, runtime=EmbeddedRuntime(w.engine, tmp_path / "sysalert.sock"))
        async with app.run_test(size=(120, 24)) as pilot:
            bar = app.screen.query_one("StatusBar")
            await wait_until(
                pilot, lambda: "FAILING: rules (InjectedFault)" in str(bar.render()), timeout=15
            )
            await wait_until(pilot, lambda: "FAILING" not in str(bar.render()), timeout=40)
            assert app.stats.get("failing") == {}
            await pilot.press("q")
