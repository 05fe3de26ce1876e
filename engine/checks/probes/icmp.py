"""ICMP probe: echo requests sent and matched by us on the event loop, so pings cost no process.

Linux lets ordinary users ping through "ping sockets" (SOCK_DGRAM + IPPROTO_ICMP) when their group is
inside net.ipv4.ping_group_range; otherwise only a raw socket (root or CAP_NET_RAW) can. We try the
ping socket first, then the raw one, and say how to fix it when neither opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.specs import TargetSpec
from engine.core.errors import BadInput

SocketFactory = Callable[[int, int, int], socket.socket]

_ECHO: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_PROTO: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
_PAD = bytes(range(40))  # 8-byte token + 40 bytes: a 56-byte payload like ping(8)
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum (ICMPv4 needs it; the kernel fills ICMPv6's)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def build_echo(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request; for IPv4 with its checksum (ping sockets rewrite id and checksum)."""
    header = struct.pack("!BBHHH", _ECHO[family], 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    if family == socket.AF_INET:
        header = header[:2] + struct.pack("!H", checksum(header + payload)) + header[4:]
    return header + payload


def parse_echo_reply(family: int, data: bytes) -> tuple[int, int, bytes] | None:
    """(ident, seq, payload) of an echo reply, or None for anything else.

    Raw IPv4 sockets hand us the IP header too; ping sockets and IPv6 do not.
    """
    if family == socket.AF_INET and len(data) >= 20 and data[0] >> 4 == 4:
        data = data[(data[0] & 0x0F) * 4 :]
    if len(data) < 8:
        return None
    kind, code, _sum, ident, seq = struct.unpack("!BBHHH", data[:8])
    if kind != _REPLY[family] or code != 0:
        return None
    return ident, seq, data[8:]


class _NoSocket(Exception):
    def __init__(self, errors: list[OSError]) -> None:
        super().__init__("no ICMP socket")
        self.errors = errors


def _open(family: int, factory: SocketFactory) -> tuple[socket.socket, bool]:
    """A non-blocking ICMP socket and whether it is raw (ping socket first, raw second)."""
    errors: list[OSError] = []
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            sock = factory(family, kind, _PROTO[family])
        except OSError as exc:
            errors.append(exc)
            continue
        sock.setblocking(False)
        return sock, kind == socket.SOCK_RAW
    raise _NoSocket(errors)


def _permission_help(errors: list[OSError]) -> str:
    """What failed and the two ways to fix it, with this process's gid and the current range."""
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as fh:
            current = " ".join(fh.read().split())
    except OSError:
        current = "unknown"
    tried = "; ".join(
        f"{k}: {e.strerror or e}"
        for k, e in zip(("ping socket", "raw socket"), errors, strict=False)
    )
    return (
        f"cannot open an ICMP socket ({tried}). Fix: allow ping sockets for this group with "
        f'`sysctl -w net.ipv4.ping_group_range="0 2147483647"` (now {current!r}, our gid '
        f"{os.getgid()}), or run with CAP_NET_RAW (AmbientCapabilities=CAP_NET_RAW in the "
        "systemd unit, or `setcap cap_net_raw+ep` on the interpreter)"
    )


@dataclass
class _Session:
    """Echoes in flight on one socket and the replies matched to them."""

    sock: socket.socket
    family: int
    raw: bool
    dest: str
    ident: int
    token: bytes
    count: int
    sent: dict[int, float] = field(default_factory=dict)
    rtts: dict[int, float] = field(default_factory=dict)
    errors: list[OSError] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_readable(self) -> None:
        """Drain the socket; time each reply here, in the callback, not after a task switch."""
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error queued on a ping socket
                self.errors.append(exc)
                return
            now = time.perf_counter()
            parsed = parse_echo_reply(self.family, data)
            if parsed is None:
                continue
            ident, seq, payload = parsed
            # A raw socket sees every ICMP packet on the host; a ping socket only its own.
            if self.raw and (ident != self.ident or str(addr[0]).split("%")[0] != self.dest):
                continue
            if not payload.startswith(self.token) or seq not in self.sent or seq in self.rtts:
                continue
            self.rtts[seq] = (now - self.sent[seq]) * 1000.0
            if len(self.rtts) == self.count:
                self.done.set()


async def probe(
    spec: TargetSpec, ctx: ProbeContext, *, _socket_factory: SocketFactory = socket.socket
) -> ProbeResult:
    """Send `count` echoes `interval` apart; fail on total loss, degrade on loss or slow rtt."""
    count = int(spec.param_float("count", 3.0))  # type: ignore[arg-type]
    interval = float(spec.param_duration("interval", 0.2))
    max_loss = float(spec.param_float("max_loss", 0.0))  # type: ignore[arg-type]
    max_rtt = spec.param_float("max_rtt")
    if not 1 <= count <= 100:
        raise BadInput(f"icmp count={count} is out of range", "use count from 1 to 100")
    if interval * (count - 1) >= ctx.timeout:
        raise BadInput(
            f"icmp count={count} x interval={interval}s does not fit the {ctx.timeout}s timeout",
            "lower count or interval, or raise the target timeout",
        )
    start = time.monotonic()
    deadline = start + max(ctx.timeout - 0.05, ctx.timeout * 0.9)
    loop = asyncio.get_running_loop()
    try:
        family, sockaddr = await _resolve(loop, spec.host or "")
    except (OSError, UnicodeError) as exc:
        return ProbeResult.failure("dns", f"cannot resolve {spec.host}: {exc}")
    try:
        sock, raw = _open(family, _socket_factory)
    except _NoSocket as exc:
        if all(e.errno in (errno.EPERM, errno.EACCES) for e in exc.errors):
            return ProbeResult.failure("permission", _permission_help(exc.errors))
        return ProbeResult.failure("error", f"cannot open an ICMP socket: {exc.errors[-1]}")

    session = _Session(
        sock,
        family,
        raw,
        str(sockaddr[0]).split("%")[0],
        int.from_bytes(os.urandom(2), "big"),
        os.urandom(8),
        count,
    )
    loop.add_reader(sock.fileno(), session.on_readable)
    try:
        await _exchange(session, sockaddr, interval, deadline)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return _result(spec, session, max_loss, max_rtt, raw, time.monotonic() - start)


async def _resolve(loop: asyncio.AbstractEventLoop, host: str) -> tuple[int, tuple]:
    """Family and socket address; literals skip getaddrinfo and its thread pool."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        return infos[0][0], infos[0][4]
    if ip.version == 4:
        return socket.AF_INET, (str(ip), 0)
    return socket.AF_INET6, (str(ip), 0, 0, 0)


async def _exchange(session: _Session, sockaddr: tuple, interval: float, deadline: float) -> None:
    """Send the echoes on schedule, then wait for the replies until all came or time is up."""
    seq0 = int.from_bytes(os.urandom(2), "big")
    payload = session.token + _PAD
    for i in range(session.count):
        seq = (seq0 + i) & 0xFFFF
        packet = build_echo(session.family, session.ident, seq, payload)
        session.sent[seq] = time.perf_counter()
        try:
            session.sock.sendto(packet, sockaddr)
        except (BlockingIOError, InterruptedError):
            pass  # counted as lost
        except OSError as exc:
            session.errors.append(exc)
        if i < session.count - 1:
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    remaining = deadline - time.monotonic()
    if remaining > 0 and len(session.rtts) < session.count:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.done.wait(), remaining)


def _result(
    spec: TargetSpec, s: _Session, max_loss: float, max_rtt: float | None, raw: bool, took: float
) -> ProbeResult:
    received = len(s.rtts)
    loss = round((s.count - received) * 100.0 / s.count, 2)
    facts: dict = {
        "loss_pct": loss,
        "sent": s.count,
        "received": received,
        "ip": s.dest,
        "socket": "raw" if raw else "dgram",
    }
    if not received:
        unreachable = [
            e for e in s.errors if e.errno in _UNREACHABLE or e.errno == errno.ECONNREFUSED
        ]
        if unreachable:
            return ProbeResult.failure("unreachable", f"{spec.host}: {unreachable[0]}", **facts)
        extra = f" ({s.errors[0]})" if s.errors else ""
        return ProbeResult.failure(
            "timeout",
            f"{spec.host}: no reply to {s.count} echo requests in {took:.1f}s{extra}",
            **facts,
        )
    rtts = list(s.rtts.values())
    avg = sum(rtts) / received
    facts.update(
        rtt_min_ms=round(min(rtts), 3), rtt_avg_ms=round(avg, 3), rtt_max_ms=round(max(rtts), 3)
    )
    detail = (
        f"{spec.host}: {received}/{s.count} replies, {loss:g}% loss, rtt min/avg/max "
        f"{min(rtts):.3f}/{avg:.3f}/{max(rtts):.3f} ms"
    )
    problems = []
    if loss > max_loss:
        problems.append(f"loss {loss:g}% > {max_loss:g}%")
    if max_rtt is not None and avg > max_rtt:
        problems.append(f"avg rtt {avg:.3f} ms > {max_rtt:g} ms")
    if problems:
        detail += " - degraded: " + ", ".join(problems)
    return ProbeResult(True, avg, avg, None, detail, bool(problems), facts)
