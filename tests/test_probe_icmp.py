"""ICMP probe against loopback, plus private network namespaces for what loopback cannot show.

Every 127.0.0.0/8 address answers, so loss, unreachable and the permission error cannot be seen on
the host's own loopback. When the tests run as root we start a child in a fresh network namespace
(its sysctls are its own, the host is untouched): echo_ignore_all gives real 100% loss, a down
loopback a real "network unreachable", ping_group_range the ping-socket path, and dropping to
nobody a real EPERM/EACCES from the kernel. Without root those tests skip and say so.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext
from engine.checks.probes.icmp import build_echo, checksum, parse_echo_reply
from engine.checks.specs import parse_spec
from engine.core.errors import BadInput
from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent


def _can_open(kind: int, family: int = socket.AF_INET) -> bool:
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    try:
        socket.socket(family, kind, proto).close()
        return True
    except OSError:
        return False


CAN_PING = _can_open(socket.SOCK_DGRAM) or _can_open(socket.SOCK_RAW)


@pytest.fixture
def ping_sockets() -> None:
    need(
        "ICMP sockets (ping or raw) for this user",
        CAN_PING,
        "allow its group in net.ipv4.ping_group_range, or run as root",
    )


needs_ping = pytest.mark.usefixtures("ping_sockets")


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def run(spec_text: str, timeout: float = 2.0, **kw):
    return await get_probe("icmp")(parse_spec(spec_text), ProbeContext(timeout=timeout), **kw)


def test_packet_build_and_parse_round_trip() -> None:
    pkt = build_echo(socket.AF_INET, 0x1234, 7, b"payload!")
    assert pkt[0] == 8 and checksum(pkt) == 0  # a valid checksum sums to zero
    reply = bytes([0]) + pkt[1:]  # the same packet as an echo reply
    assert parse_echo_reply(socket.AF_INET, reply) == (0x1234, 7, b"payload!")
    ip_header = bytes([0x45]) + bytes(19)  # raw IPv4 sockets deliver the IP header first
    assert parse_echo_reply(socket.AF_INET, ip_header + reply) == (0x1234, 7, b"payload!")
    assert parse_echo_reply(socket.AF_INET, pkt) is None  # our own request is not a reply
    assert parse_echo_reply(
        socket.AF_INET6, bytes([129]) + build_echo(socket.AF_INET6, 1, 2, b"x")[1:]
    ) == (1, 2, b"x")


@needs_ping
@pytest.mark.anyio
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost"])
async def test_ping_ipv4_loopback(host: str) -> None:
    r = await run(f"icmp://{host}?count=3&interval=20ms")
    assert r.ok, r.detail
    assert not r.degraded
    assert r.facts["loss_pct"] == 0 and r.facts["received"] == 3
    assert 0 < r.facts["rtt_min_ms"] <= r.value <= r.facts["rtt_max_ms"] < 1000
    assert r.latency_ms == r.value
    expected = "dgram" if _can_open(socket.SOCK_DGRAM) else "raw"
    assert r.facts["socket"] == expected


@needs_ping
@pytest.mark.anyio
async def test_ping_ipv6_loopback() -> None:
    need("an IPv6 loopback (::1)", _has_ipv6_loopback(), "enable IPv6 on lo")
    r = await run("icmp://[::1]?count=2&interval=20ms")
    assert r.ok, r.detail
    assert r.facts["ip"] == "::1" and r.facts["received"] == 2


@needs_ping
@pytest.mark.anyio
async def test_slow_rtt_is_degraded_not_failed() -> None:
    r = await run("icmp://127.0.0.1?count=2&interval=10ms&max_rtt=0.000001")
    assert r.ok and r.degraded
    assert "avg rtt" in r.detail


@pytest.mark.anyio
async def test_socket_errors_from_factory_give_the_fix() -> None:
    """The same path as a real EPERM/EACCES (proven in a namespace below when root)."""
    calls: list[int] = []

    def refuse(family: int, kind: int, proto: int) -> socket.socket:
        calls.append(kind)
        code = errno.EACCES if kind == socket.SOCK_DGRAM else errno.EPERM
        raise PermissionError(code, os.strerror(code))

    r = await run("icmp://127.0.0.1", _socket_factory=refuse)
    assert calls == [socket.SOCK_DGRAM, socket.SOCK_RAW]
    assert not r.ok and r.error_class == "permission"
    assert "net.ipv4.ping_group_range" in r.detail and "CAP_NET_RAW" in r.detail


@pytest.mark.anyio
async def test_options_that_make_no_sense_raise() -> None:
    with pytest.raises(BadInput):
        await run("icmp://127.0.0.1?count=0")
    with pytest.raises(BadInput):
        await run("icmp://127.0.0.1?count=10&interval=1s", timeout=2.0)


@pytest.mark.anyio
async def test_unresolvable_name_is_dns() -> None:
    r = await run("icmp://no-such-host.invalid")
    assert not r.ok and r.error_class == "dns"


# --- private network namespace (root only) -----------------------------------------------------

CHILD = r"""
import asyncio, concurrent.futures.thread, ctypes, fcntl, json, os, socket, struct, sys
from engine.checks.probes.base import ProbeContext
from engine.checks.probes.icmp import probe
from engine.checks.specs import parse_spec

opts = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
    print(json.dumps({"skip": "unshare(CLONE_NEWNET): " + os.strerror(ctypes.get_errno())}))
    sys.exit(0)
if opts["lo_up"]:
    s = socket.socket()
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))[:18])[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCSIFFLAGS IFF_UP
    s.close()
for key, value in opts["sysctl"].items():
    with open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
        fh.write(value)
if opts["nobody"]:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
r = asyncio.run(probe(parse_spec(opts["spec"]), ProbeContext(timeout=opts["timeout"])))
print(json.dumps({"ok": r.ok, "error_class": r.error_class, "detail": r.detail, "facts": r.facts}))
"""


def in_netns(
    spec: str,
    sysctl: dict[str, str],
    lo_up: bool = True,
    nobody: bool = False,
    timeout: float = 2.0,
) -> dict:
    need("root, for a private network namespace", os.geteuid() == 0, "run the tests as root")
    opts = {"spec": spec, "sysctl": sysctl, "lo_up": lo_up, "nobody": nobody, "timeout": timeout}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(opts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    need("a private network namespace", "skip" not in out, out.get("skip", ""))
    return out


def test_total_loss_is_a_timeout_failure() -> None:
    out = in_netns(
        "icmp://127.0.0.1?count=2&interval=50ms",
        {"net.ipv4.icmp_echo_ignore_all": "1"},
        timeout=0.6,
    )
    assert not out["ok"] and out["error_class"] == "timeout"
    assert out["facts"]["loss_pct"] == 100 and out["facts"]["sent"] == 2
    assert "no reply" in out["detail"]


def test_network_down_is_unreachable() -> None:
    out = in_netns("icmp://127.0.0.1?count=1", {}, lo_up=False, timeout=0.5)
    assert not out["ok"] and out["error_class"] == "unreachable", out


def test_ping_socket_path_when_group_is_allowed() -> None:
    out = in_netns(
        "icmp://127.0.0.1?count=2&interval=10ms",
        {"net.ipv4.ping_group_range": "0 2147483647"},
        nobody=True,
    )
    assert out["ok"], out
    assert out["facts"]["socket"] == "dgram" and out["facts"]["received"] == 2


def test_real_permission_error_is_explained() -> None:
    out = in_netns("icmp://127.0.0.1", {"net.ipv4.ping_group_range": "1 0"}, nobody=True)
    assert not out["ok"] and out["error_class"] == "permission"
    assert "Permission denied" in out["detail"] or "Operation not permitted" in out["detail"]
    assert "net.ipv4.ping_group_range" in out["detail"] and "CAP_NET_RAW" in out["detail"]
    assert "'1 0'" in out["detail"]  # the namespace's own range, read from /proc
