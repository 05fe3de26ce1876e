"""UDP probe: send ?send= as one datagram, wait for one answer, and with ?expect= require that
text in it (Gatus's udp:// endpoint). The answer is [BODY].

UDP has no connection: "connected" means an answer came. A closed port is reported as refused only
when the host sends ICMP port unreachable; otherwise the probe times out, as any UDP client would.
"""

from __future__ import annotations

import asyncio

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import done, guarded, setting
from engine.checks.specs import TargetSpec

ANSWER_MAX = 65_535


class _Answer(asyncio.DatagramProtocol):
    """Resolves a future with the first datagram (or the ICMP error) that arrives."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done():
            self.answer.set_result(data[:ANSWER_MAX])

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Send the payload, read one answer, look for the expected text."""
    payload = str(setting(spec, ctx, "send", "")).encode()
    expect = setting(spec, ctx, "expect")

    async def run(start: float) -> ProbeResult:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            _Answer, remote_addr=(spec.host or "", spec.port or 0)
        )
        try:
            transport.sendto(payload)
            data = await proto.answer
        finally:
            transport.close()
        text = data.decode("utf-8", "replace")
        if expect is not None and str(expect) not in text:
            problem = ("keyword", f"the answer does not contain {str(expect)[:60]!r}")
            return done(ctx, start, text[:1000], problem, spec.host)
        return done(ctx, start, text[:1000], None, spec.host)

    return await guarded(spec, ctx, run, "an answer datagram")
