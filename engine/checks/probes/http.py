"""HTTP(S) probe: status, keyword / regex, JSON path, latency threshold and Gatus conditions.

One httpx.AsyncClient per engine and per TLS-verify setting lives in `ctx.shared` so connection
pools and TLS contexts are built once, not per check. The body is read up to a cap so a huge or
endless response cannot eat memory. Latency covers the whole exchange, body (up to the cap)
included, because that is what a user waiting on the page would feel.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from functools import cache
from time import perf_counter
from typing import Any

import httpx

from engine.checks.options import flag
from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.tcp import check_conditions, classify_error, conditions_use
from engine.checks.specs import TargetSpec
from engine.core.errors import BadInput

BODY_CAP = 1 << 20  # 1 MiB is plenty for a health page; the rest is not read
DEFAULT_EXPECT = ((200, 399),)
SHARED_KEYS = {True: "httpx", False: "httpx_noverify"}
_USER_AGENT = "SysAlert/0.1 (+monitor)"
_PATH_TOKEN = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")


@cache
def _trust_context() -> ssl.SSLContext:
    """System trust store plus certifi: internal CAs installed on the box work, and so do public
    ones on minimal images whose system bundle is empty."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return context


def get_client(shared: dict[str, Any], verify: bool) -> httpx.AsyncClient:
    """The engine-wide client for this verify setting, created on first use."""
    key = SHARED_KEYS[verify]
    client = shared.get(key)
    if client is None:
        client = httpx.AsyncClient(
            verify=_trust_context() if verify else False,
            # A monitor checks the target itself, not whatever proxy the daemon's environment names.
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=200),
            headers={"User-Agent": _USER_AGENT},
        )
        shared[key] = client
    return client


async def close_shared(shared: dict[str, Any]) -> None:
    """Close the clients this module put in `shared` (engine shutdown)."""
    for key in SHARED_KEYS.values():
        client = shared.pop(key, None)
        if client is not None:
            await client.aclose()


def parse_expect_status(value: Any) -> tuple[tuple[int, int], ...]:
    """Accept 200, "200-299", "2xx", "200,204" or a list of those; ranges are inclusive."""
    items = value if isinstance(value, list | tuple) else [value]
    ranges: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            ranges.append((item, item))
            continue
        for part in str(item).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if re.fullmatch(r"[1-5]xx", part):
                base = int(part[0]) * 100
                ranges.append((base, base + 99))
                continue
            m = re.fullmatch(r"(\d{3})\s*(?:-\s*(\d{3}))?", part)
            if not m:
                raise BadInput(
                    f"expect_status {part!r} is not a status code or range",
                    'use numbers or ranges, e.g. [200, "300-399"]',
                )
            lo, hi = int(m[1]), int(m[2] or m[1])
            ranges.append((min(lo, hi), max(lo, hi)))
    if not ranges:
        raise BadInput("expect_status is empty", 'give at least one code, e.g. ["200-299"]')
    return tuple(ranges)


_MISSING = object()


def json_lookup(doc: Any, path: str) -> Any:
    """Follow a dotted path like `data.status` or `items[0].name`; _MISSING when absent."""
    node = doc
    for index, key in _PATH_TOKEN.findall(path):
        if index:
            if not isinstance(node, list):
                return _MISSING
            i = int(index)
            if not -len(node) <= i < len(node):
                return _MISSING
            node = node[i]
        elif isinstance(node, dict):
            if key not in node:
                return _MISSING
            node = node[key]
        elif isinstance(node, list) and key.lstrip("-").isdigit():
            i = int(key)
            if not -len(node) <= i < len(node):
                return _MISSING
            node = node[i]
        else:
            return _MISSING
    return node


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _check_content(text: str, opts: dict[str, Any]) -> str | None:
    """Keyword, regex and JSON path checks; the failure detail, or None when all pass."""
    keyword = opts.get("keyword")
    if keyword and str(keyword) not in text:
        return f"keyword {keyword!r} not found in the body"
    absent = opts.get("keyword_absent")
    if absent and str(absent) in text:
        return f"keyword {absent!r} found in the body but must be absent"
    pattern = opts.get("regex")
    if pattern:
        try:
            matched = re.search(str(pattern), text)
        except re.error as exc:
            raise BadInput(
                f"regex {pattern!r} does not compile: {exc}", "check the pattern"
            ) from None
        if not matched:
            return f"regex {pattern!r} does not match the body"
    path = opts.get("json_path")
    if path:
        try:
            doc = json.loads(text)
        except ValueError:
            return f"body is not JSON, json_path {path!r} cannot apply"
        found = json_lookup(doc, str(path))
        if found is _MISSING:
            return f"json_path {path!r} not found"
        if "json_equals" in opts:
            want = opts["json_equals"]
            if found != want and _as_text(found) != _as_text(want):
                return (
                    f"json_path {path!r} is {_as_text(found)[:100]!r}, expected {_as_text(want)!r}"
                )
    return None


def _needs_text(opts: dict[str, Any], ctx: ProbeContext) -> bool:
    return bool(
        ctx.conditions
        or opts.get("keyword")
        or opts.get("keyword_absent")
        or opts.get("regex")
        or opts.get("json_path")
    )


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_CAP:
            break
    return b"".join(chunks)[:BODY_CAP]


def _decode(data: bytes, encoding: str | None) -> str:
    try:
        return data.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _peer_facts(response: httpx.Response, want_cert: bool) -> tuple[str | None, float | None]:
    """Peer IP and, for https when asked, seconds until the certificate expires."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None, None
    ip: str | None = None
    cert_s: float | None = None
    try:
        addr = stream.get_extra_info("server_addr")
        ip = addr[0] if addr else None
        ssl_object = stream.get_extra_info("ssl_object") if want_cert else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            from engine.checks.probes.tls import seconds_left

            cert_s = seconds_left(der)
    except Exception:  # facts are a bonus; a stream without them must not fail the check
        pass
    return ip, cert_s


def _request_args(opts: dict[str, Any]) -> dict[str, Any]:
    headers = opts.get("headers") or {}
    if not isinstance(headers, dict):
        raise BadInput("headers must be a table of name = value", 'e.g. headers = {Accept = "*/*"}')
    headers = {str(k): str(v) for k, v in headers.items()}
    body = opts.get("body")
    if isinstance(body, dict | list):  # a TOML table as body means JSON
        body = json.dumps(body)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    return {
        "headers": headers,
        "content": body.encode() if isinstance(body, str) else body,
        "follow_redirects": flag(opts, "follow_redirects", True),
    }


def _max_latency(opts: dict[str, Any]) -> float | None:
    value = opts.get("max_latency_ms")
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInput(f"max_latency_ms {value!r} is not a number", "e.g. 500") from None


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """One request; every failure becomes a result with an error class."""
    opts = ctx.options
    url = spec.url or ""
    method = str(opts.get("method") or "GET").upper()
    expect_raw = opts.get("expect_status")
    expect = (
        parse_expect_status(expect_raw)
        if expect_raw is not None
        else (None if ctx.conditions else DEFAULT_EXPECT)
    )
    max_latency = _max_latency(opts)
    args = _request_args(opts)
    client = get_client(ctx.shared, flag(opts, "verify_tls", True))
    want_text = _needs_text(opts, ctx)
    want_cert = url[:6].lower() == "https:" and conditions_use(ctx, "[CERTIFICATE_EXPIRATION]")
    start = perf_counter()
    try:
        async with asyncio.timeout(ctx.timeout):
            async with client.stream(
                method, url, timeout=httpx.Timeout(ctx.timeout), **args
            ) as response:
                # Before the body: a server that closes after answering (HTTP/1.0) leaves no peer
                # address on the stream once the body is read, and [IP] would read empty.
                ip, cert_s = _peer_facts(response, want_cert)
                data = await _read_capped(response)
                ms = (perf_counter() - start) * 1000.0
    except (httpx.TimeoutException, TimeoutError) as exc:
        ms = (perf_counter() - start) * 1000.0
        detail = f"no answer within {ctx.timeout:g}s from {url}"
        connected = isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout)
        return ProbeResult.failure("timeout", detail, ms, connected=connected, response_time_ms=ms)
    except httpx.TooManyRedirects as exc:
        ms = (perf_counter() - start) * 1000.0
        detail = f"too many redirects: {exc}"[:300]
        return ProbeResult.failure("status", detail, ms, connected=True, response_time_ms=ms)
    except Exception as exc:  # httpx.HTTPError, InvalidURL, a stray OSError: all are results
        ms = (perf_counter() - start) * 1000.0
        error_class = classify_error(exc)
        is_http = isinstance(exc, httpx.HTTPError) and not isinstance(exc, httpx.ConnectError)
        if error_class == "error" and is_http:
            error_class = "protocol"  # the server answered, but not with valid HTTP
        connected = error_class in ("tls", "protocol")
        detail = f"{str(exc) or type(exc).__name__} ({url})"[:300]
        return ProbeResult.failure(
            error_class, detail, ms, connected=connected, response_time_ms=ms
        )

    status = response.status_code
    text = _decode(data, response.encoding) if want_text else ""
    facts: dict[str, Any] = {
        "status": status,
        "response_time_ms": ms,
        "ip": ip,
        "connected": True,
        "certificate_expiration_s": cert_s,
    }
    if expect is not None and not any(lo <= status <= hi for lo, hi in expect):
        return ProbeResult(False, ms, ms, "status", f"HTTP {status} from {url}", False, facts)
    failed = _check_content(text, opts)
    if failed is not None:
        return ProbeResult(False, ms, ms, "keyword", failed, False, facts)
    if max_latency is not None and ms > max_latency:
        detail = f"took {ms:.0f} ms, over the {max_latency:g} ms limit"
        return ProbeResult(False, ms, ms, "threshold", detail, False, facts)
    if ctx.conditions:
        failed = check_conditions(ctx, body=text, **facts)
        if failed is not None:
            return ProbeResult(False, ms, ms, "condition", failed, False, facts)
    return ProbeResult(True, ms, ms, None, "", False, facts)
