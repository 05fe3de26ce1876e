"""TCP probe against real loopback listeners: open, closed, full backlog (timeout), names."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time

import pytest

from engine.checks.conditions.parse import parse_condition
from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext
from engine.checks.probes.tcp import classify_error, is_ip_literal, probe
from engine.checks.specs import TargetSpec, parse_spec


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    """A port that was just free: bound, then closed, so nothing listens on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.anyio
async def test_open_port_connects_and_reports_facts() -> None:
    accepted = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await probe(parse_spec(f"tcp://127.0.0.1:{port}"), ProbeContext(timeout=2))
        await asyncio.wait_for(accepted.wait(), 2)
    assert result.ok, result.detail
    assert result.error_class is None
    assert result.latency_ms is not None and 0 <= result.latency_ms < 2000
    assert result.facts == {
        "connected": True,
        "response_time_ms": result.latency_ms,
        "ip": "127.0.0.1",
    }


@pytest.mark.anyio
async def test_registry_returns_this_probe() -> None:
    assert get_probe("tcp") is probe


@pytest.mark.anyio
async def test_closed_port_is_refused() -> None:
    port = _free_port()
    result = await probe(parse_spec(f"tcp://127.0.0.1:{port}"), ProbeContext(timeout=2))
    assert not result.ok
    assert result.error_class == "refused"
    assert str(port) in result.detail
    assert result.facts["connected"] is False


@pytest.mark.anyio
async def test_full_backlog_times_out() -> None:
    """A listener that never accepts, with its backlog filled, drops further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                c.connect(("127.0.0.1", port))
            fillers.append(c)
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        result = await probe(parse_spec(f"tcp://127.0.0.1:{port}"), ProbeContext(timeout=0.3))
        elapsed = time.perf_counter() - started
    finally:
        for c in fillers:
            c.close()
        listener.close()
    assert not result.ok
    assert result.error_class == "timeout"
    assert 0.25 <= elapsed < 2.0


@pytest.mark.anyio
async def test_hostname_is_resolved_first() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await probe(TargetSpec("tcp", "x", "localhost", port), ProbeContext(timeout=2))
    # localhost may resolve to ::1 first; the probe falls through to the address that listens.
    assert result.ok, result.detail
    assert result.facts["ip"] == "127.0.0.1"


@pytest.mark.anyio
async def test_bad_name_is_a_dns_error() -> None:
    # glibc rejects this name locally (no query leaves the box); elsewhere it is NXDOMAIN.
    spec = TargetSpec("tcp", "x", "bad_host!", 80)
    result = await probe(spec, ProbeContext(timeout=2))
    assert not result.ok
    assert result.error_class == "dns"
    assert result.facts["ip"] is None


def test_ip_literal_detection() -> None:
    assert is_ip_literal("127.0.0.1")
    assert is_ip_literal("::1")
    assert is_ip_literal("2001:db8::5")
    assert not is_ip_literal("localhost")
    assert not is_ip_literal("10.0.0")
    assert not is_ip_literal("db.internal")


def test_error_classes_follow_the_cause_chain() -> None:
    assert classify_error(OSError(errno.ENETUNREACH, "Network is unreachable")) == "unreachable"
    assert classify_error(OSError(errno.EHOSTUNREACH, "No route to host")) == "unreachable"
    assert classify_error(socket.gaierror(-2, "Name or service not known")) == "dns"
    assert classify_error(TimeoutError()) == "timeout"
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        except ConnectionRefusedError as inner:
            raise OSError("All connection attempts failed") from inner
    except OSError as outer:
        assert classify_error(outer) == "refused"
    group = ExceptionGroup("many", [ValueError("x"), OSError(errno.ENETUNREACH, "unreachable")])
    assert classify_error(group) == "unreachable"
    assert classify_error(ValueError("other")) == "error"


@pytest.mark.anyio
async def test_conditions_on_tcp_facts() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spec = parse_spec(f"tcp://127.0.0.1:{port}")
    good = [parse_condition(t) for t in ("[CONNECTED] == true", "[IP] == 127.0.0.1")]
    bad = [parse_condition("[IP] == 10.9.9.9")]
    async with server:
        ok = await probe(spec, ProbeContext(timeout=2, conditions=good))
        failed = await probe(spec, ProbeContext(timeout=2, conditions=bad))
    assert ok.ok, ok.detail
    assert not failed.ok and failed.error_class == "condition"
    assert "10.9.9.9" in failed.detail
