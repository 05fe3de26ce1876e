"""Command probe: run a check program, judge its exit code and the number it prints.

The program runs in its own session (so its own process group): on timeout or cancellation we
signal the whole group, so a shell script's children die with it instead of piling up every
interval. Output is capped so a chatty check cannot eat the engine's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time

from engine.checks.options import flag
from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.specs import TargetSpec

OUTPUT_CAP = 64 * 1024
KILL_GRACE = 0.5  # seconds between SIGTERM and SIGKILL
PIPE_GRACE = 0.5  # seconds to wait for pipes after the program exited
DETAIL_LINES = 5
DETAIL_CHARS = 1000


class _Capped:
    """Keeps the first and the last half of OUTPUT_CAP bytes; first line and last line survive."""

    def __init__(self, cap: int = OUTPUT_CAP) -> None:
        self.half = cap // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.half:
            cut = len(self.tail) - self.half
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        gap = f"\n[... {self.dropped} bytes dropped ...]\n".encode() if self.dropped else b""
        return bytes(self.head + gap + self.tail).decode("utf-8", "replace")


async def _drain(stream: asyncio.StreamReader | None, buf: _Capped) -> None:
    if stream is None:
        return
    while chunk := await stream.read(16384):
        buf.add(chunk)


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _wait_exit(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    """True once the program exited, False after timeout.

    Process.wait() (3.11) also waits for the pipes to close, which a background child may hold
    forever; so we also look at returncode, set as soon as the child is reaped.
    """
    end = time.monotonic() + timeout
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while proc.returncode is None:
            left = end - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait({waiter}, timeout=min(0.1, left))
        return True
    finally:
        waiter.cancel()


async def _stop_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, give it KILL_GRACE to exit, then SIGKILL whatever is left."""
    _killpg(proc.pid, signal.SIGTERM)
    await _wait_exit(proc, KILL_GRACE)
    _killpg(proc.pid, signal.SIGKILL)  # stragglers that ignored SIGTERM or outlived the leader
    await _wait_exit(proc, 1.0)


def _close(proc: asyncio.subprocess.Process) -> None:
    """Close the pipes now (a cancelled probe cannot await); asyncio.Process has no public close."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


_REAPERS: set[asyncio.Task] = set()


def _reap_later(proc: asyncio.subprocess.Process) -> None:
    """A cancelled probe cannot wait; a task outside its scope reaps the killed child."""

    async def reap() -> None:
        await _wait_exit(proc, 5.0)
        _close(proc)

    task = asyncio.get_running_loop().create_task(reap())
    _REAPERS.add(task)
    task.add_done_callback(_REAPERS.discard)


async def _spawn(argv: tuple[str, ...]) -> asyncio.subprocess.Process:
    """Start argv in a new session; if we are cancelled meanwhile, kill it once it exists.

    Left alone, a cancelled create_subprocess_exec kills only the leader and then waits for the
    pipes, which a child of the leader may hold for as long as it lives.
    """
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    )
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        spawn.add_done_callback(_kill_spawned)
        raise


def _kill_spawned(spawn: asyncio.Future) -> None:
    if spawn.cancelled() or spawn.exception() is not None:
        return
    proc = spawn.result()
    _killpg(proc.pid, signal.SIGKILL)
    _reap_later(proc)


def parse_number(text: str) -> float | None:
    """The number on the first line of stdout, else on the last line ('42', '-1.5', '97%')."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in lines[:1] + lines[-1:]:
        try:
            value = float(line.removesuffix("%").strip())
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return None


def _tail(text: str) -> str:
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-DETAIL_LINES:])[-DETAIL_CHARS:]


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Run spec.argv with ctx.timeout; options: max, min (number thresholds), nagios (exit 1 = warn)."""
    if not spec.argv:
        return ProbeResult.failure("exec", "no command to run")
    program = spec.argv[0]
    start = time.perf_counter()
    try:
        proc = await _spawn(spec.argv)
    except FileNotFoundError:
        return ProbeResult.failure(
            "exec", f"{program}: command not found (check the path and PATH)"
        )
    except PermissionError:
        return ProbeResult.failure(
            "exec", f"{program}: permission denied (is it executable? chmod +x)"
        )
    except OSError as exc:
        return ProbeResult.failure("exec", f"{program}: cannot run it: {exc.strerror or exc}")

    out, err = _Capped(), _Capped()
    readers = asyncio.gather(_drain(proc.stdout, out), _drain(proc.stderr, err))
    readers.add_done_callback(_consume)  # cancelled readers must not log "never retrieved"
    timed_out = False
    try:
        if not await _wait_exit(proc, ctx.timeout):
            timed_out = True
            await _stop_group(proc)
        left = max(0.05, min(PIPE_GRACE, ctx.timeout - (time.perf_counter() - start)))
        try:
            await asyncio.wait_for(asyncio.shield(readers), left)
        except TimeoutError:
            # The program exited but something it started still holds our pipes: end the group.
            _killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(readers, 1.0)
    finally:
        if proc.returncode is None:  # cancelled by the scheduler: no time for grace
            _killpg(proc.pid, signal.SIGKILL)
            readers.cancel()
            _reap_later(proc)
        elif not (readers.done() and not readers.cancelled() and readers.exception() is None):
            readers.cancel()
            _close(proc)
    took = (time.perf_counter() - start) * 1000
    stdout, stderr = out.text(), err.text()
    facts = {"exit_code": proc.returncode, "duration_ms": round(took, 3)}
    if timed_out:
        detail = f"{program}: no exit within {ctx.timeout:g}s; process group killed"
        if tail := _tail(stderr) or _tail(stdout):
            detail += "\n" + tail
        return ProbeResult(False, took, None, "timeout", detail, False, facts)
    return _judge(program, proc.returncode or 0, stdout, stderr, took, ctx, facts)


def _judge(
    program: str, code: int, stdout: str, stderr: str, took: float, ctx: ProbeContext, facts: dict
) -> ProbeResult:
    """Exit code first (Nagios: 1 warning), then the printed number against min/max."""
    number = parse_number(stdout)
    tail = _tail(stderr) or _tail(stdout)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return ProbeResult(
            False,
            took,
            None,
            "exit",
            f"{program}: killed by signal {name}\n{tail}".strip(),
            False,
            facts,
        )
    nagios = flag(ctx.options, "nagios", False)
    degraded = nagios and code == 1
    if code != 0 and not degraded:
        value = number if number is not None else float(code)
        return ProbeResult(
            False, took, value, "exit", f"{program}: exit {code}\n{tail}".strip(), False, facts
        )
    if number is not None:
        high, low = ctx.options.get("max"), ctx.options.get("min")
        if high is not None and number > float(high):
            return ProbeResult(
                False,
                took,
                number,
                "threshold",
                f"{number:g} > max {float(high):g}\n{tail}".strip(),
                False,
                facts,
            )
        if low is not None and number < float(low):
            return ProbeResult(
                False,
                took,
                number,
                "threshold",
                f"{number:g} < min {float(low):g}\n{tail}".strip(),
                False,
                facts,
            )
    detail = (f"warning (exit 1)\n{tail}" if degraded else _tail(stdout)).strip()
    return ProbeResult(True, took, number, None, detail, degraded, facts)
