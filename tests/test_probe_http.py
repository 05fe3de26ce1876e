"""HTTP probe against a real threaded HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from engine.checks.conditions.parse import parse_condition
from engine.checks.probes import get_probe
from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.http import close_shared, parse_expect_status, probe
from engine.checks.specs import parse_spec
from engine.core.errors import BadInput

DOC = {"status": "UP", "data": {"status": "ok", "count": 3}, "items": [{"name": "first"}]}
BIG = b"START" + b"x" * (3 << 20) + b"END"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/ok":
            self._send(200, json.dumps(DOC).encode(), "application/json")
        elif parts.path.startswith("/status/"):
            self._send(int(parts.path.rsplit("/", 1)[1]), b"status page")
        elif parts.path == "/text":
            self._send(200, b"hello world, all good", "text/plain; charset=utf-8")
        elif parts.path == "/slow":
            time.sleep(int(query["ms"][0]) / 1000)
            self._send(200, b"slow but fine")
        elif parts.path == "/redirect":
            self._send(302, b"", Location="/ok")
        elif parts.path == "/big":
            self._send(200, BIG)
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        good = (
            self.path == "/echo"
            and self.headers.get("X-Token") == "s3cret"
            and body == b'{"ping": 1}'
        )
        self._send(200 if good else 400, b"echo ok" if good else b"echo bad")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out on purpose leave broken pipes behind


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Handler)
    for s in _serve(server):
        yield f"http://127.0.0.1:{s.server_address[1]}"


@pytest.fixture(scope="module")
def tls_base() -> Iterator[str]:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for s in _serve(server):
        yield f"https://127.0.0.1:{s.server_address[1]}"


async def check(url: str, timeout: float = 3.0, conditions: Any = (), **opts: Any) -> ProbeResult:
    """Probe once with a fresh shared dict and close the clients after, as an engine would."""
    ctx = ProbeContext(timeout=timeout, options=opts, conditions=list(conditions))
    try:
        return await probe(parse_spec(url), ctx)
    finally:
        await close_shared(ctx.shared)
        assert ctx.shared == {}


@pytest.mark.anyio
async def test_ok_and_facts(base: str) -> None:
    assert get_probe("http") is probe
    r = await check(base + "/ok")
    assert r.ok, r.detail
    assert r.error_class is None
    assert r.value == r.latency_ms and r.latency_ms is not None and r.latency_ms > 0
    assert r.facts["status"] == 200
    assert r.facts["ip"] == "127.0.0.1"
    assert r.facts["connected"] is True


@pytest.mark.anyio
async def test_bad_status_fails(base: str) -> None:
    r = await check(base + "/status/503")
    assert not r.ok
    assert r.error_class == "status"
    assert "503" in r.detail


@pytest.mark.anyio
async def test_expect_status_ranges(base: str) -> None:
    assert not (await check(base + "/status/404")).ok
    assert (await check(base + "/status/404", expect_status=[404])).ok
    assert (await check(base + "/status/404", expect_status=["200-299", "400-404"])).ok
    assert (await check(base + "/status/201", expect_status="2xx")).ok
    r = await check(base + "/status/302", expect_status=["200-299"], follow_redirects=False)
    assert r.error_class == "status"
    with pytest.raises(BadInput):
        await check(base + "/ok", expect_status=["2oo"])


def test_parse_expect_status() -> None:
    assert parse_expect_status([200, "300-399"]) == ((200, 200), (300, 399))
    assert parse_expect_status("200, 204") == ((200, 200), (204, 204))
    assert parse_expect_status("5xx") == ((500, 599),)
    with pytest.raises(BadInput):
        parse_expect_status([])


@pytest.mark.anyio
async def test_redirects_followed_or_not(base: str) -> None:
    followed = await check(base + "/redirect", keyword='"UP"')
    assert followed.ok, followed.detail
    assert followed.facts["status"] == 200
    kept = await check(base + "/redirect", follow_redirects=False)
    assert kept.ok, kept.detail  # 3xx is inside the default 200-399
    assert kept.facts["status"] == 302
    strict = await check(base + "/redirect", follow_redirects=False, expect_status=[200])
    assert not strict.ok and strict.error_class == "status"


@pytest.mark.anyio
async def test_keyword_present_and_absent(base: str) -> None:
    assert (await check(base + "/text", keyword="all good")).ok
    missing = await check(base + "/text", keyword="on fire")
    assert not missing.ok and missing.error_class == "keyword"
    assert "on fire" in missing.detail
    assert (await check(base + "/text", keyword_absent="error")).ok
    present = await check(base + "/text", keyword_absent="hello")
    assert not present.ok and present.error_class == "keyword"


@pytest.mark.anyio
async def test_regex(base: str) -> None:
    assert (await check(base + "/text", regex=r"hello \w+,")).ok
    r = await check(base + "/text", regex=r"^goodbye")
    assert not r.ok and r.error_class == "keyword"
    with pytest.raises(BadInput):
        await check(base + "/text", regex="(unclosed")


@pytest.mark.anyio
async def test_json_path(base: str) -> None:
    assert (await check(base + "/ok", json_path="data.status", json_equals="ok")).ok
    assert (await check(base + "/ok", json_path="items[0].name", json_equals="first")).ok
    assert (await check(base + "/ok", json_path="data.count", json_equals=3)).ok
    assert (await check(base + "/ok", json_path="data.count", json_equals="3")).ok
    assert (await check(base + "/ok", json_path="status")).ok
    wrong = await check(base + "/ok", json_path="data.status", json_equals="down")
    assert not wrong.ok and wrong.error_class == "keyword"
    assert (await check(base + "/ok", json_path="items[3].name")).error_class == "keyword"
    assert (await check(base + "/ok", json_path="data.nope")).error_class == "keyword"
    not_json = await check(base + "/text", json_path="a")
    assert not_json.error_class == "keyword"


@pytest.mark.anyio
async def test_max_latency(base: str) -> None:
    slow = await check(base + "/slow?ms=250", max_latency_ms=100)
    assert not slow.ok
    assert slow.error_class == "threshold"
    assert slow.latency_ms is not None and slow.latency_ms >= 240
    assert (await check(base + "/slow?ms=50", max_latency_ms=5000)).ok


@pytest.mark.anyio
async def test_timeout(base: str) -> None:
    started = time.perf_counter()
    r = await check(base + "/slow?ms=1500", timeout=0.3)
    assert not r.ok
    assert r.error_class == "timeout"
    assert time.perf_counter() - started < 1.2


@pytest.mark.anyio
async def test_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await check(f"http://127.0.0.1:{port}/")
    assert not r.ok
    assert r.error_class == "refused"
    assert r.facts["connected"] is False


@pytest.mark.anyio
async def test_garbage_answer_is_a_protocol_error() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"this is not http\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        r = await check(f"http://127.0.0.1:{port}/")
    assert not r.ok
    assert r.error_class == "protocol"


@pytest.mark.anyio
async def test_method_headers_and_body_are_sent(base: str) -> None:
    opts = {"method": "post", "headers": {"X-Token": "s3cret"}, "body": '{"ping": 1}'}
    r = await check(base + "/echo", keyword="echo ok", **opts)
    assert r.ok, r.detail
    as_table = await check(base + "/echo", **{**opts, "body": {"ping": 1}})
    assert as_table.ok, as_table.detail  # a table body is sent as JSON
    opts["headers"] = {"X-Token": "wrong"}
    bad = await check(base + "/echo", **opts)
    assert not bad.ok and bad.error_class == "status" and bad.facts["status"] == 400


@pytest.mark.anyio
async def test_body_read_is_capped(base: str) -> None:
    assert (await check(base + "/big", keyword="START")).ok
    tail = await check(base + "/big", keyword="END")
    assert not tail.ok and tail.error_class == "keyword"


@pytest.mark.anyio
async def test_tls_verify_on_and_off(tls_base: str) -> None:
    verified = await check(tls_base + "/ok")
    assert not verified.ok
    assert verified.error_class == "tls"
    unverified = await check(tls_base + "/ok", verify_tls=False, keyword="UP")
    assert unverified.ok, unverified.detail


@pytest.mark.anyio
async def test_client_is_shared_per_verify_setting(base: str) -> None:
    ctx = ProbeContext(timeout=3)
    spec = parse_spec(base + "/ok")
    assert (await probe(spec, ctx)).ok
    client = ctx.shared["httpx"]
    assert (await probe(spec, ctx)).ok
    assert ctx.shared["httpx"] is client
    ctx.options = {"verify_tls": False}
    assert (await probe(spec, ctx)).ok
    assert set(ctx.shared) == {"httpx", "httpx_noverify"}
    await close_shared(ctx.shared)
    assert ctx.shared == {} and client.is_closed


# --- Gatus conditions -----------------------------------------------------------------------------


def _conditions(*texts: str) -> list[Any]:
    return [parse_condition(t) for t in texts]


@pytest.mark.anyio
async def test_conditions_hold(base: str) -> None:
    conds = _conditions("[STATUS] == 200", "[BODY].status == UP", "[RESPONSE_TIME] < 5000")
    r = await check(base + "/ok", conditions=conds)
    assert r.ok, r.detail


@pytest.mark.anyio
async def test_failing_conditions_are_listed(base: str) -> None:
    conds = _conditions("[STATUS] == 200", "[BODY].status == DOWN", "[BODY].data.count > 5")
    r = await check(base + "/ok", conditions=conds)
    assert not r.ok
    assert r.error_class == "condition"
    parts = r.detail.split("; ")
    assert len(parts) == 2
    assert "DOWN" in parts[0] and "UP" in parts[0]
    assert "5" in parts[1]


@pytest.mark.anyio
async def test_conditions_replace_the_default_status_check(base: str) -> None:
    conds = _conditions("[STATUS] == 404")
    assert (await check(base + "/status/404", conditions=conds)).ok
    explicit = await check(base + "/status/404", conditions=conds, expect_status=[200])
    assert not explicit.ok and explicit.error_class == "status"


@pytest.mark.anyio
async def test_certificate_expiration_condition(tls_base: str) -> None:
    conds = _conditions("[CERTIFICATE_EXPIRATION] > 48h", "[CONNECTED] == true")
    r = await check(tls_base + "/ok", conditions=conds, verify_tls=False)
    assert r.ok, r.detail
    assert r.facts["certificate_expiration_s"] > 48 * 3600
    soon = await check(
        tls_base + "/ok",
        conditions=_conditions("[CERTIFICATE_EXPIRATION] < 48h"),
        verify_tls=False,
    )
    assert soon.error_class == "condition"


@pytest.mark.anyio
async def test_options_given_as_cli_strings_mean_what_they_say(
    base: str, tmp_path: Any, settings: Any
) -> None:
    """`--option follow_redirects=false` arrives as the string "false": built into a target it is
    false (it used to be truthy and the redirect was followed); headers come as header.NAME;
    a misspelt key or a bad value is a clear error that stores nothing."""
    from engine.commands import Commands
    from engine.core.errors import BadInput
    from engine.security.crypto import KeyRing
    from engine.store.store import Store
    from tests.console_world import MASTER

    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", KeyRing.from_masters([MASTER]))
    try:
        cmds = Commands(store, settings)
        rec = cmds.build_target(
            base + "/redirect",
            options={"follow_redirects": "false", "expect_status": "302"},
        )
        assert rec.options == {"follow_redirects": False, "expect_status": "302"}
        kept = await check(base + "/redirect", **rec.options)
        assert kept.ok and kept.facts["status"] == 302, kept.detail
        posted = cmds.build_target(
            base + "/echo",
            options={"method": "post", "header.X-Token": "s3cret", "body": '{"ping": 1}'},
        )
        assert posted.options["headers"] == {"X-Token": "s3cret"}
        assert (await check(base + "/echo", keyword="echo ok", **posted.options)).ok
        for options, says in (
            ({"follow_redirect": "false"}, "did you mean 'follow_redirects'?"),
            ({"verify_tls": "maybe"}, "is not true or false"),
            ({"max_latency_ms": "fast"}, "is not a number"),
            ({"method": "FETCH"}, "is not an HTTP method"),
            ({"regex": "(unclosed"}, "does not compile"),
            ({"json_equals": "UP"}, "json_equals needs json_path"),
            ({"expect_status": "teapot"}, "expect_status"),
        ):
            with pytest.raises(BadInput) as err:
                cmds.add_target(base + "/ok", options=options)
            assert says in str(err.value) + " " + str(err.value.hint), (options, err.value)
        with pytest.raises(BadInput, match="tcp targets take no options"):
            cmds.add_target("tcp://127.0.0.1:9", options={"verify_tls": "false"})
        assert cmds.list_targets() == []
    finally:
        store.close()


def test_a_boolean_stored_as_text_before_options_were_checked_reads_as_meant() -> None:
    from engine.checks.options import flag

    assert flag({"follow_redirects": "false"}, "follow_redirects", True) is False
    assert flag({"follow_redirects": "0"}, "follow_redirects", True) is False
    assert flag({"verify_tls": "yes"}, "verify_tls", False) is True
    assert flag({}, "verify_tls", False) is False and flag({}, "x", True) is True


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
async def test_ip_is_the_address_connected_to(version: str) -> None:
    """Gatus' [IP]: the peer address, also from a server that closes after its answer (HTTP/1.0,
    `python -m http.server`), where the stream has no peer left once the body is read."""
    from engine.checks.conditions.parse import parse_condition

    class OneShot(Handler):
        protocol_version = version

    server = QuietServer(("127.0.0.1", 0), OneShot)
    for s in _serve(server):
        url = f"http://127.0.0.1:{s.server_address[1]}/ok"
        r = await check(url, conditions=[parse_condition("[IP] == 127.0.0.1")])
        assert r.ok, r.detail
        assert r.facts["ip"] == "127.0.0.1"
        r = await check(url, conditions=[parse_condition("[IP] == 10.9.9.9")])
        assert not r.ok and "[IP] (127.0.0.1)" in r.detail


@pytest.mark.anyio
async def test_ip_over_https(tls_base: str) -> None:
    from engine.checks.conditions.parse import parse_condition

    r = await check(
        tls_base + "/ok", conditions=[parse_condition("[IP] == 127.0.0.1")], verify_tls=False
    )
    assert r.ok, r.detail
