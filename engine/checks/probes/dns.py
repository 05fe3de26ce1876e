"""DNS probe: one query straight to a name server, so the rcode and timing are the server's own.

We send the query ourselves (dnspython's asyncquery) instead of going through a stub resolver: a
resolver hides SERVFAIL behind "no nameservers", retries and caches, and the monitor needs the
exact answer code and the time one server took to give it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.specs import TargetSpec
from engine.core.errors import BadInput

# Record types whose answers are names: compared without case or trailing dot.
_NAME_TYPES = {"CNAME", "NS", "PTR", "MX", "SRV", "SOA"}


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Query spec.host for params['type'] and check the expected answers and conditions."""
    rtype = spec.params.get("type", "A").upper()
    expected = [e.strip() for e in spec.params.get("expect", "").split(",") if e.strip()]
    qname = _query_name(spec.host or "", rtype)
    deadline = time.monotonic() + ctx.timeout
    try:
        servers = await _servers(spec.params.get("server"))
    except OSError as exc:
        return ProbeResult.failure("dns", f"cannot resolve the DNS server name: {exc}")
    except dns.resolver.NoResolverConfiguration:
        return ProbeResult.failure(
            "dns", "no system name server configured (/etc/resolv.conf)", dns_rcode=None
        )
    if not servers:
        return ProbeResult.failure("dns", "no name server to ask", dns_rcode=None)

    query = dns.message.make_query(qname, dns.rdatatype.from_text(rtype))
    response: dns.message.Message | None = None
    errors: list[str] = []
    start = time.perf_counter()
    for host, port in servers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        start = time.perf_counter()
        try:
            response, _tcp = await dns.asyncquery.udp_with_fallback(
                query, host, timeout=remaining, port=port
            )
            break
        except dns.exception.Timeout:
            errors.append(f"{host}:{port} timed out")
        except ConnectionRefusedError:
            errors.append(f"{host}:{port} refused")
        except (OSError, dns.exception.DNSException) as exc:
            errors.append(f"{host}:{port} {type(exc).__name__}: {exc}")
    if response is None:
        elapsed = (time.perf_counter() - start) * 1000
        timed_out = not errors or all(e.endswith("timed out") for e in errors)
        refused = errors and all(e.endswith("refused") for e in errors)
        cls = "timeout" if timed_out else "refused" if refused else "dns"
        detail = "; ".join(errors) or "no time left for the query"
        return ProbeResult.failure(cls, f"{qname} {rtype}: {detail}", elapsed, dns_rcode=None)
    rt_ms = (time.perf_counter() - start) * 1000
    return _judge(ctx, response, qname, rtype, expected, rt_ms)


def _judge(
    ctx: ProbeContext,
    response: dns.message.Message,
    qname: dns.name.Name,
    rtype: str,
    expected: list[str],
    rt_ms: float,
) -> ProbeResult:
    """Turn a response into a result: rcode, answers, expected values, then conditions."""
    rcode = dns.rcode.to_text(response.rcode())
    wanted = dns.rdatatype.from_text(rtype)
    answers = [rd for rrset in response.answer if rrset.rdtype == wanted for rd in rrset]
    texts = [_text(rd, rtype) for rd in answers]
    ip = _first_address(response)
    facts: dict[str, Any] = {"dns_rcode": rcode, "ip": ip, "response_time_ms": round(rt_ms, 3)}
    got = ", ".join(texts) or "no answer"

    if ctx.conditions:
        # With conditions the user decides what an rcode means (Gatus checks NXDOMAIN this way).
        failed = _conditions(ctx.conditions, rcode, _gatus_body(response), ip, rt_ms)
        if failed:
            return ProbeResult(
                False,
                rt_ms,
                float(len(answers)),
                "condition",
                f"{qname} {rtype}: {failed} (rcode {rcode}, got {got})",
                False,
                facts,
            )
    elif rcode != "NOERROR":
        return ProbeResult(False, rt_ms, 0.0, "dns", f"{qname} {rtype}: {rcode}", False, facts)
    elif not answers:
        return ProbeResult(
            False,
            rt_ms,
            0.0,
            "dns",
            f"{qname} {rtype}: no {rtype} record (NOERROR, empty)",
            False,
            facts,
        )
    missing = _missing(expected, answers, rtype)
    if missing:
        detail = f"{qname} {rtype}: expected {', '.join(expected)}; got {got}"
        return ProbeResult(False, rt_ms, float(len(answers)), "keyword", detail, False, facts)
    return ProbeResult(
        True, rt_ms, float(len(answers)), None, f"{qname} {rtype}: {got}", False, facts
    )


def _conditions(conditions: list[Any], rcode: str, body: str, ip: str | None, rt_ms: float) -> str:
    """Evaluate Gatus conditions; return the failed ones as text ('' when all pass)."""
    from engine.checks.conditions.parse import ConditionFacts, evaluate_all

    facts = ConditionFacts(
        status=None,
        body=body,
        response_time_ms=rt_ms,
        ip=ip,
        connected=True,
        certificate_expiration_s=None,
        domain_expiration_s=None,
        dns_rcode=rcode,
    )
    ok, outcomes = evaluate_all(conditions, facts)
    if ok:
        return ""
    bad = [o.description for o in outcomes if not o.ok]
    return "; ".join(bad or [o.description for o in outcomes])


def _gatus_body(response: dns.message.Message) -> str:
    """[BODY] as Gatus sets it for DNS: the value of the last record in the answer section
    (names keep their final dot), so configs written for Gatus keep their meaning."""
    body = ""
    for rrset in response.answer:
        for rd in rrset:
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                body = str(rd.address)
            elif rrset.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR):
                body = rd.target.to_text()
            elif rrset.rdtype == dns.rdatatype.MX:
                body = rd.exchange.to_text()
            elif rrset.rdtype == dns.rdatatype.SRV:
                body = rd.target.to_text()
            elif rrset.rdtype == dns.rdatatype.TXT:
                body = b"".join(rd.strings).decode("utf-8", "replace")
            else:
                body = rd.to_text()
    return body


def _query_name(host: str, rtype: str) -> dns.name.Name:
    """The absolute name to ask for; an IP address with type PTR means its reverse name."""
    if rtype == "PTR":
        try:
            return dns.reversename.from_address(host)
        except (ValueError, dns.exception.SyntaxError):
            pass
    try:
        return dns.name.from_text(host)
    except dns.exception.DNSException as exc:
        raise BadInput(
            f"DNS name is not valid: {exc}", "write a name such as example.org"
        ) from None


async def _servers(server: str | None) -> list[tuple[str, int]]:
    """Name servers to ask, in order: the spec's server, else the system's (resolv.conf)."""
    if not server:
        res = dns.resolver.get_default_resolver()
        return [(str(ns), res.port) for ns in res.nameservers]
    host, port = _split(server)
    try:
        ipaddress.ip_address(host)
        return [(host, port)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    return [(str(info[4][0]), port) for info in infos[:1]]


def _split(server: str) -> tuple[str, int]:
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if server.count(":") == 1:
        host, port = server.rsplit(":", 1)
        return host, int(port)
    return server, 53


def _first_address(response: dns.message.Message) -> str | None:
    """First A answer, else first AAAA: the address Gatus exposes as [IP]."""
    for kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
        for rrset in response.answer:
            if rrset.rdtype == kind:
                for rd in rrset:
                    return str(rd.address)
    return None


def _text(rd: Any, rtype: str) -> str:
    """The answer as people write it: address, name without the final dot, TXT unquoted."""
    if rtype in ("A", "AAAA"):
        return str(rd.address)
    if rtype in ("CNAME", "NS", "PTR"):
        return rd.target.to_text(omit_final_dot=True)
    if rtype == "MX":
        return f"{rd.preference} {rd.exchange.to_text(omit_final_dot=True)}"
    if rtype == "TXT":
        return b"".join(rd.strings).decode("utf-8", "replace")
    if rtype == "SRV":
        return f"{rd.priority} {rd.weight} {rd.port} {rd.target.to_text(omit_final_dot=True)}"
    if rtype == "CAA":
        return f'{rd.flags} {rd.tag.decode()} "{rd.value.decode("utf-8", "replace")}"'
    return rd.to_text()


def _forms(rd: Any, rtype: str) -> set[str]:
    """Every way an expected value may name this answer (MX by exchange alone, etc.)."""
    forms = {_text(rd, rtype)}
    if rtype == "MX":
        forms.add(rd.exchange.to_text())
    elif rtype == "SRV":
        forms.add(rd.target.to_text())
    elif rtype == "SOA":
        forms.add(rd.mname.to_text())
    elif rtype == "CAA":
        value = rd.value.decode("utf-8", "replace")
        forms |= {value, f"{rd.tag.decode()} {value}"}
    return {_norm(f, rtype) for f in forms}


def _norm(value: str, rtype: str) -> str:
    v = value.strip()
    if rtype == "TXT":
        return v[1:-1] if len(v) > 1 and v[0] == v[-1] == '"' else v
    try:
        return ipaddress.ip_address(v).compressed
    except ValueError:
        pass
    v = v.strip('"')
    return v.lower().rstrip(".") if rtype in _NAME_TYPES or rtype == "CAA" else v


def _missing(expected: list[str], answers: list[Any], rtype: str) -> list[str]:
    """Expected values no answer matches (every expected value must be present)."""
    have: set[str] = set()
    for rd in answers:
        have |= _forms(rd, rtype)
    return [e for e in expected if _norm(e, rtype) not in have]
