"""Command probe with real subprocesses: exit codes, printed numbers, timeouts that kill the group."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext
from engine.checks.specs import TargetSpec, parse_spec
from tests.conftest import need_tool


def script(tmp_path: Path, body: str, name: str = "check.sh") -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


async def run(spec: str | TargetSpec, timeout: float = 5.0, **options):
    if isinstance(spec, str):
        spec = parse_spec(spec)
    return await get_probe("command")(spec, ProbeContext(timeout=timeout, options=options))


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def wait_gone(pid: int, within: float = 2.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.anyio
async def test_exit_zero_is_ok(tmp_path: Path) -> None:
    r = await run(f"cmd:{script(tmp_path, 'echo all good')}")
    assert r.ok and not r.degraded and r.error_class is None
    assert r.value is None
    assert r.detail == "all good"
    assert r.facts["exit_code"] == 0 and r.latency_ms > 0


@pytest.mark.anyio
async def test_exit_three_fails_with_code_and_stderr(tmp_path: Path) -> None:
    r = await run(f"cmd:{script(tmp_path, 'echo out; echo disk is on fire >&2; exit 3')}")
    assert not r.ok and r.error_class == "exit"
    assert r.value == 3
    assert "exit 3" in r.detail and "disk is on fire" in r.detail


@pytest.mark.anyio
async def test_arguments_are_passed_without_a_shell(tmp_path: Path) -> None:
    path = script(tmp_path, 'printf "%s|" "$@"')
    r = await run(f"cmd:{path} 'a b' '$HOME' ';'")
    assert r.ok and r.detail == "a b|$HOME|;|"


@pytest.mark.anyio
async def test_number_on_stdout_and_thresholds(tmp_path: Path) -> None:
    first = f"cmd:{script(tmp_path, 'echo 42.5; echo more text', 'a.sh')}"
    last = f"cmd:{script(tmp_path, 'echo measuring...; echo 17%', 'b.sh')}"
    assert (await run(first)).value == 42.5
    assert (await run(last)).value == 17
    high = await run(first, max=40)
    assert (high.ok, high.error_class, high.value) == (False, "threshold", 42.5)
    low = await run(last, min=20)
    assert (low.ok, low.error_class, low.value) == (False, "threshold", 17)
    within = await run(first, min=40, max="50")
    assert within.ok and within.value == 42.5


@pytest.mark.anyio
async def test_failing_command_reports_its_number(tmp_path: Path) -> None:
    r = await run(f"cmd:{script(tmp_path, 'echo 99; exit 2')}")
    assert (r.ok, r.error_class, r.value) == (False, "exit", 99)


@pytest.mark.anyio
async def test_nagios_warning_is_degraded_only_when_asked(tmp_path: Path) -> None:
    spec = f"cmd:{script(tmp_path, 'echo WARNING - load high; exit 1')}"
    plain = await run(spec)
    assert not plain.ok and plain.error_class == "exit"
    warn = await run(spec, nagios=True)
    assert warn.ok and warn.degraded and "load high" in warn.detail
    crit = await run(f"cmd:{script(tmp_path, 'exit 2', 'c.sh')}", nagios=True)
    assert not crit.ok and crit.error_class == "exit"


@pytest.mark.anyio
async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    spec = f"cmd:{script(tmp_path, f'sleep 30 & echo $! > {pidfile}; echo started; wait')}"
    t0 = time.monotonic()
    r = await run(spec, timeout=0.5)
    took = time.monotonic() - t0
    assert not r.ok and r.error_class == "timeout"
    assert "started" in r.detail
    assert took < 2.0
    child = int(pidfile.read_text())
    assert await wait_gone(child), "the sleep child outlived the timeout"


@pytest.mark.anyio
async def test_group_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    body = f"trap '' TERM; sleep 30 & echo $! > {pidfile}; wait; wait; wait"
    t0 = time.monotonic()
    r = await run(f"cmd:{script(tmp_path, body)}", timeout=0.3)
    took = time.monotonic() - t0
    assert r.error_class == "timeout"
    assert 0.7 <= took < 2.5  # timeout + SIGTERM grace, then SIGKILL
    assert await wait_gone(int(pidfile.read_text()))


@pytest.mark.anyio
async def test_cancellation_kills_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    spec = f"cmd:{script(tmp_path, f'sleep 30 & echo $! > {pidfile}; wait')}"
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(run(spec, timeout=30))
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(int(pidfile.read_text()))
    # The probe leaves one reaper task behind; it must finish once the killed child is reaped.
    for _ in range(200):
        if asyncio.all_tasks() == before:
            break
        await asyncio.sleep(0.01)
    assert asyncio.all_tasks() == before


@pytest.mark.anyio
async def test_cancellation_while_starting_does_not_wait_for_children(tmp_path: Path) -> None:
    """Cancelled inside the spawn: we must not sit until `sleep 30` releases the pipes."""
    pidfile = tmp_path / "child.pid"
    spec = f"cmd:{script(tmp_path, f'sleep 30 & echo $! > {pidfile}; wait')}"
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(run(spec, timeout=30))
    await asyncio.sleep(0)  # the probe is now inside create_subprocess_exec
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 1.0
    for _ in range(200):
        if asyncio.all_tasks() == before:
            break
        await asyncio.sleep(0.01)
    assert asyncio.all_tasks() == before
    # The group may die before the script writes the pid; if it wrote it, the child is gone.
    if pidfile.exists() and pidfile.read_text().strip():
        assert await wait_gone(int(pidfile.read_text()))


@pytest.mark.anyio
async def test_background_child_holding_the_pipe_does_not_hang(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    t0 = time.monotonic()
    r = await run(f"cmd:{script(tmp_path, f'sleep 30 & echo $! > {pidfile}; echo 5')}", timeout=10)
    assert r.ok and r.value == 5
    assert time.monotonic() - t0 < 2.0
    assert await wait_gone(int(pidfile.read_text()))


@pytest.mark.anyio
async def test_output_is_capped_and_last_line_survives() -> None:
    code = "import sys; sys.stdout.write('x' * 2_000_000 + '\\n7\\n')"
    r = await run(TargetSpec("command", "cmd", argv=(sys.executable, "-c", code)))
    assert r.ok and r.value == 7
    assert len(r.detail) <= 1000


@pytest.mark.anyio
async def test_killed_by_signal(tmp_path: Path) -> None:
    r = await run(f"cmd:{script(tmp_path, 'kill -9 $$')}")
    assert not r.ok and r.error_class == "exit" and "SIGKILL" in r.detail


@pytest.mark.anyio
async def test_missing_and_unrunnable_binaries_are_exec_errors(tmp_path: Path) -> None:
    missing = await run(f"cmd:{tmp_path}/no-such-check --flag")
    assert not missing.ok and missing.error_class == "exec"
    assert "command not found" in missing.detail and "no-such-check" in missing.detail
    plain = tmp_path / "not-executable.sh"
    plain.write_text("#!/bin/sh\nexit 0\n")
    plain.chmod(0o644)
    if os.geteuid() == 0 and os.access(plain, os.X_OK):
        pytest.skip("not a missing tool: root may execute a file without the x bit")
    denied = await run(f"cmd:{plain}")
    assert not denied.ok and denied.error_class == "exec" and "permission denied" in denied.detail


@pytest.mark.anyio
async def test_child_that_escaped_the_group_cannot_hang_the_probe(tmp_path: Path) -> None:
    """setsid puts the child out of our reach; we stop reading instead of waiting for it."""
    need_tool("setsid")
    pidfile = tmp_path / "child.pid"
    t0 = time.monotonic()
    r = await run(
        f"cmd:{script(tmp_path, f'setsid sleep 5 & echo $! > {pidfile}; echo 1')}", timeout=10
    )
    took = time.monotonic() - t0
    pid = int(pidfile.read_text())
    try:
        assert r.ok and r.value == 1
        assert took < 3.0
    finally:
        if alive(pid):
            os.kill(pid, 9)
