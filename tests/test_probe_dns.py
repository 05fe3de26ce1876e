"""DNS probe against a tiny UDP name server this test runs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from engine.checks.conditions.parse import parse_condition
from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext
from engine.checks.specs import parse_spec

ZONE = {
    ("www.example.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("www.example.test.", "AAAA"): ["2001:db8::10"],
    ("txt.example.test.", "TXT"): ['"v=spf1 -all"', '"hello" " world"'],
    ("example.test.", "MX"): ["10 mx1.example.test.", "20 mx2.example.test."],
    ("alias.example.test.", "CNAME"): ["www.example.test."],
    ("10.2.0.192.in-addr.arpa.", "PTR"): ["www.example.test."],
}
NAMES = {name for name, _ in ZONE} | {"broken.example.test."}


class _Server(asyncio.DatagramProtocol):
    """Answers from ZONE; unknown names get NXDOMAIN, broken.example.test SERVFAIL."""

    def __init__(self) -> None:
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.queries += 1
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        if name == "broken.example.test.":
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif name not in NAMES:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            cname = ZONE.get((name, "CNAME"))
            if cname and rtype != "CNAME":
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", *cname))
                name = cname[0]
            values = ZONE.get((name, rtype))
            if values:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", rtype, *values))
        self.transport.sendto(reply.to_wire(), addr)


@asynccontextmanager
async def dns_server() -> AsyncIterator[tuple[int, _Server]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Server, local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[1], proto
    finally:
        transport.close()


async def run(spec_text: str, timeout: float = 2.0, **ctx_kw):
    spec = parse_spec(spec_text)
    return await get_probe("dns")(spec, ProbeContext(timeout=timeout, **ctx_kw))


@pytest.mark.anyio
async def test_a_record_with_expected_answers() -> None:
    async with dns_server() as (port, server):
        r = await run(
            f"dns://www.example.test?type=A&server=127.0.0.1:{port}&expect=192.0.2.11,192.0.2.10"
        )
    assert r.ok, r.detail
    assert r.error_class is None
    assert r.value == 2
    assert r.facts["dns_rcode"] == "NOERROR"
    assert r.facts["ip"] in ("192.0.2.10", "192.0.2.11")
    assert 0 < r.facts["response_time_ms"] < 2000
    assert r.latency_ms == pytest.approx(r.facts["response_time_ms"], abs=0.01)
    assert server.queries == 1


@pytest.mark.anyio
async def test_aaaa_expected_in_other_spelling() -> None:
    async with dns_server() as (port, _):
        r = await run(
            f"dns://www.example.test?type=AAAA&server=127.0.0.1:{port}&expect=2001:DB8:0::10"
        )
    assert r.ok, r.detail
    assert r.value == 1
    assert r.facts["ip"] == "2001:db8::10"


@pytest.mark.anyio
async def test_txt_joins_strings() -> None:
    async with dns_server() as (port, _):
        r = await run(f"dns://txt.example.test?type=TXT&server=127.0.0.1:{port}&expect=hello world")
    assert r.ok, r.detail
    assert r.value == 2
    assert "v=spf1 -all" in r.detail
    assert r.facts["ip"] is None


@pytest.mark.anyio
async def test_mx_matches_by_exchange_or_full_text() -> None:
    async with dns_server() as (port, _):
        r = await run(
            f"dns://example.test?type=MX&server=127.0.0.1:{port}&expect=MX1.example.test.,20 mx2.example.test"
        )
    assert r.ok, r.detail
    assert r.value == 2


@pytest.mark.anyio
async def test_cname_chain_counts_only_requested_type() -> None:
    async with dns_server() as (port, _):
        a = await run(f"dns://alias.example.test?type=A&server=127.0.0.1:{port}")
        c = await run(
            f"dns://alias.example.test?type=CNAME&server=127.0.0.1:{port}&expect=www.example.test"
        )
    assert a.ok and a.value == 2 and a.facts["ip"] in ("192.0.2.10", "192.0.2.11")
    assert c.ok and c.value == 1, c.detail


@pytest.mark.anyio
async def test_ptr_from_an_ip_address() -> None:
    async with dns_server() as (port, _):
        r = await run(f"dns://192.0.2.10?type=PTR&server=127.0.0.1:{port}&expect=www.example.test")
    assert r.ok, r.detail


@pytest.mark.anyio
async def test_nxdomain_is_a_dns_error() -> None:
    async with dns_server() as (port, _):
        r = await run(f"dns://nope.example.test?type=A&server=127.0.0.1:{port}")
    assert not r.ok
    assert r.error_class == "dns"
    assert r.facts["dns_rcode"] == "NXDOMAIN"
    assert "NXDOMAIN" in r.detail
    assert r.value == 0


@pytest.mark.anyio
async def test_servfail_and_empty_answer_are_dns_errors() -> None:
    async with dns_server() as (port, _):
        fail = await run(f"dns://broken.example.test?server=127.0.0.1:{port}")
        empty = await run(f"dns://txt.example.test?type=A&server=127.0.0.1:{port}")
    assert (fail.ok, fail.error_class, fail.facts["dns_rcode"]) == (False, "dns", "SERVFAIL")
    assert (empty.ok, empty.error_class, empty.facts["dns_rcode"]) == (False, "dns", "NOERROR")
    assert "no A record" in empty.detail


@pytest.mark.anyio
async def test_expected_answer_missing_is_keyword_with_both_lists() -> None:
    async with dns_server() as (port, _):
        r = await run(
            f"dns://www.example.test?type=A&server=127.0.0.1:{port}&expect=192.0.2.10,192.0.2.99"
        )
    assert not r.ok
    assert r.error_class == "keyword"
    assert "192.0.2.99" in r.detail and "192.0.2.11" in r.detail
    assert r.value == 2


@pytest.mark.anyio
async def test_server_that_never_answers_times_out() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        port = silent.getsockname()[1]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        r = await run(f"dns://www.example.test?server=127.0.0.1:{port}", timeout=0.4)
        elapsed = loop.time() - t0
        assert silent.recv(512)  # the query did arrive; nobody answered it
    finally:
        silent.close()
    assert not r.ok
    assert r.error_class == "timeout"
    assert 0.3 < elapsed < 1.5


@pytest.mark.anyio
async def test_conditions_decide_when_given() -> None:
    async with dns_server() as (port, _):
        nx = await run(
            f"dns://nope.example.test?server=127.0.0.1:{port}",
            conditions=[parse_condition("[DNS_RCODE] == NXDOMAIN")],
        )
        bad = await run(
            f"dns://www.example.test?server=127.0.0.1:{port}",
            conditions=[parse_condition("[DNS_RCODE] == NXDOMAIN")],
        )
        body = await run(
            f"dns://example.test?type=MX&server=127.0.0.1:{port}",
            conditions=[
                parse_condition("[BODY] == pat(mx*.example.test.)"),
                parse_condition("[CONNECTED] == true"),
            ],
        )
    assert nx.ok, nx.detail
    assert nx.facts["dns_rcode"] == "NXDOMAIN"
    assert not bad.ok and bad.error_class == "condition"
    assert "DNS_RCODE" in bad.detail
    assert body.ok, body.detail  # Gatus's [BODY] for DNS: the last answer, names with the dot
