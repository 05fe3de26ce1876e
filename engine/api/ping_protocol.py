"""Heartbeat pings answered inside uvicorn's HTTP protocol, without an ASGI task per request.

A ping is the one request that arrives thousands of times a second. Through ASGI it costs a task,
a suspended coroutine chain that waits for the group commit, and two `send` messages. Here the
parsed request is recorded straight from the parser's callback and the whole answer is written
in one call when the commit that stores it completes. Everything else on the connection (the API,
/health, /metrics, a pipelined request behind a pending ping) goes through uvicorn as usual, in
order: a pending ping is the connection's current "cycle", so uvicorn queues what follows it.

`answer_ping` is the ping logic itself (status codes, errors, commit); the ASGI path for the Unix
socket and for pipelined pings calls the same function.

The subclass leans on uvicorn's protocol internals (`cycle`, `pipeline`, `flow`,
`on_response_complete`), so pyproject.toml bounds uvicorn's version and tests/test_daemon_pings.py
pins the behaviour at the HTTP level (order of pipelined answers, keep-alive, close, HEAD, POST).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from engine.api.ports import PingSink
from engine.core.errors import BadInput
from engine.core.limits import PING_BODY_MAX, PING_DISCARD_MAX
from engine.heartbeats.heartbeat import parse_ping_path
from engine.store.db import describe_error

log = logging.getLogger(__name__)

Reply = Callable[[int, bytes], None]
_PING_METHODS = (b"GET", b"HEAD", b"POST")
_last_error_log = [0.0]
UNIX_SNDBUF = 4 << 20


def answer_ping(engine: PingSink, path: str, reply: Reply) -> None:
    """Record the ping at `path` and call `reply(status, body)` once: at once for 400/404, after
    the group commit that stores it for 200, with 503 when it could not be recorded."""
    try:
        parsed = parse_ping_path(path)
    except BadInput as exc:
        reply(400, (exc.message + "\n").encode())
        return
    if parsed is None:
        reply(404, b"not found\n")
        return
    token, kind, code = parsed
    try:
        rec = engine.alerting.heartbeats.record(token, kind, code)
    except BadInput as exc:
        reply(400, (exc.message + "\n").encode())
        return
    except Exception as exc:
        _unrecorded(exc)
        reply(503, b"could not record the ping, try again\n")
        return
    if rec is None:
        reply(404, b"not found\n")
        return

    def committed(exc: Exception | None) -> None:
        if exc is None:
            reply(200, b"OK")
        else:
            _unrecorded(exc)
            reply(503, b"could not record the ping, try again\n")

    engine.when_committed(committed)


def _unrecorded(exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_error_log[0] > 10:  # one line per 10 s, not one per ping
        _last_error_log[0] = now
        log.error("pings could not be recorded: %s", describe_error(exc))


# A ping body is a log excerpt that SysAlert does not store: any size up to PING_DISCARD_MAX is
# read and dropped as it arrives (nothing of it is buffered) and the ping is recorded, as
# Healthchecks records a ping whose body is over its 100 kB and keeps the first 100 kB. Past
# PING_DISCARD_MAX the ping is refused unrecorded, so a hostile client cannot keep the daemon busy.
TOO_LARGE = (
    b"a ping body over %d bytes (10 MiB) is refused and this ping was not recorded; "
    b"send the end of the log, e.g. tail -c %d\n" % (PING_DISCARD_MAX, PING_BODY_MAX)
)


def body_too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a ping announces a body over PING_DISCARD_MAX (Content-Length, before reading it)."""
    for name, value in headers:
        if name == b"content-length":
            return not value.strip().isdigit() or int(value) > PING_DISCARD_MAX
    return False


# After a 413 the connection closes in stages (RFC 9112 section 9.6): the answer and our FIN go out
# and what the client still sends is read and dropped until it closes, for at most this long and
# PING_DISCARD_MAX more bytes. Closing at once with its bytes unread resets the connection, and a
# client still uploading (curl with a chunked body) then loses the 413 and reports nothing.
LINGER_S = 2.0


def body_over(size: int) -> bool:
    """Whether `size` bytes of a ping body read so far (chunked: not announced) are too many."""
    return size > PING_DISCARD_MAX


class _PingCycle:
    """Stands in for uvicorn's RequestResponseCycle while a ping waits for its commit."""

    __slots__ = ("head", "keep_alive", "response_complete", "disconnected", "path", "body_size")

    def __init__(self, head: bool, keep_alive: bool, path: str) -> None:
        self.head = head
        self.keep_alive = keep_alive
        self.path = path
        self.response_complete = False
        self.disconnected = False
        self.body_size = 0

    @property
    def message_event(self) -> _NoEvent:  # uvicorn sets it when the connection is lost
        return _NO_EVENT


class _NoEvent:
    def set(self) -> None:
        return None


_NO_EVENT = _NoEvent()


class PingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; `/ping/...` requests skip ASGI (see the module docstring)."""

    engine: PingSink  # set on the subclass made by `ping_protocol`
    _linger_left: int | None = None  # bytes still to drop after a 413, before closing at once

    def connection_made(self, transport: Any) -> None:
        """On the Unix socket, room for a whole page of targets (3 MB at 25,000) in the kernel's
        buffer: else the loop, busy probing, hands a big answer over 200 kB an iteration and
        `status` waits a second a page (TCP sizes its own buffers)."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            with contextlib.suppress(OSError):  # the kernel caps it (net.core.wmem_max)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UNIX_SNDBUF)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._linger_left is None:
            super().data_received(data)
            return
        self._linger_left -= len(data)  # refused: nothing more is parsed
        if self._linger_left < 0:
            self.transport.close()

    def on_headers_complete(self) -> None:
        if self._linger_left is not None:  # a request behind a refused body in the same read
            return
        cycle = self.cycle
        if (
            self.url.startswith(b"/ping/")
            and (cycle is None or cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused  # a client not reading its answers: ASGI waits on it
            and self.parser.get_method() in _PING_METHODS
            and not self.parser.should_upgrade()
        ):
            raw = httptools.parse_url(self.url).path.decode("latin-1")
            self.cycle = _PingCycle(  # type: ignore[assignment]
                self.parser.get_method() == b"HEAD",
                self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive(),
                unquote(raw) if "%" in raw else raw,
            )
            if body_too_large(self.headers):  # refused before a byte of it is read
                self._refuse(self.cycle)
                return
            if self.expect_100_continue:  # curl waits a second for this before a large POST body
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is _PingCycle:  # a POSTed log excerpt: counted and dropped, never kept
            cycle.body_size += len(body)
            if body_over(cycle.body_size):  # chunked, so not announced: refused here
                self._refuse(cycle)
            return
        super().on_body(body)

    def _refuse(self, cycle: Any) -> None:
        """413 for a ping body over PING_DISCARD_MAX; the ping is not recorded and the connection
        closes (in stages, see LINGER_S) without parsing anything more."""
        if cycle.response_complete:
            return
        cycle.keep_alive = False
        self._answer(cycle, 413, TOO_LARGE, linger=True)

    def _linger(self) -> None:
        """Close in stages (see LINGER_S): half-close, drop what still comes, then close."""
        transport = self.transport
        self._linger_left = PING_DISCARD_MAX
        if transport.can_write_eof():  # TLS cannot half-close: the client stops on the 413
            transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is _PingCycle:
            if cycle.response_complete:  # refused as too large
                return
            answer_ping(
                self.engine, cycle.path, lambda status, body: self._answer(cycle, status, body)
            )
            return
        super().on_message_complete()

    def _answer(self, cycle: Any, status: int, body: bytes, linger: bool = False) -> None:
        if cycle.response_complete:
            return
        cycle.response_complete = True
        transport = self.transport
        if transport.is_closing():
            return  # the client left; the ping itself is recorded all the same
        parts = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts.append(b"content-type: text/plain\r\ncontent-length: %d\r\n" % len(body))
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if not cycle.head:
            parts.append(body)
        transport.write(b"".join(parts))
        if cycle.keep_alive:
            self.on_response_complete()
        else:
            self.server_state.total_requests += 1
            if linger:
                self._linger()
            else:
                transport.close()


def ping_protocol(engine: PingSink) -> type[PingProtocol]:
    """The protocol class for one engine's listeners, TCP and Unix socket (uvicorn's `http=`)."""
    return type("EnginePingProtocol", (PingProtocol,), {"engine": engine})
