"""The HTTP API: heartbeat pings (hot path, raw ASGI), /health, /metrics, REST, server-sent events.

Served on the data directory's Unix socket (mode 0600: the socket's permissions are the
authentication) and optionally on TCP, where /api/* needs an API key (X-API-Key or Bearer).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route as SRoute

from engine.api import alertmanager, wire
from engine.api.acting import takes_by
from engine.api.auth import ApiKeys, RequireKey
from engine.api.badges import badge_routes
from engine.api.errors import HANDLERS, NotAvailable, translate
from engine.api.health import health_report
from engine.api.page_walk import page_walk
from engine.api.ping_protocol import TOO_LARGE, answer_ping, body_over, body_too_large
from engine.api.ports import ApiEngine, PingSink
from engine.api.requests import actor, parse_json_body, read_body
from engine.api.routes import ROUTES, Route, route_for
from engine.api.schema import openapi, validate
from engine.api.status_pages import status_routes
from engine.core.domain import TargetRecord

__all__ = ["build_app", "health_report"]  # health_report: where tests and tools read it

log = logging.getLogger(__name__)


# Runtime fields the engine keeps in memory and writes to the store only every few seconds.
_RUNTIME = (
    "state",
    "state_since",
    "next_due",
    "last_check_at",
    "last_latency_ms",
    "last_error_class",
    "fail_streak",
    "ok_streak",
    "flapping",
)


def live(engine: ApiEngine, result: Any) -> Any:
    """A result with the engine's in-memory state laid over each target read from the store.

    Without this a target answered 200 to a ping still reads `unknown` until the next runtime
    flush (seconds later), and an attached console or `sysalert status` shows stale states.
    """
    if isinstance(result, list):
        return [live(engine, x) for x in result]
    if not isinstance(result, TargetRecord):
        return result
    cur = engine.targets.get(result.id)
    if cur is None or cur is result or cur.kind != result.kind:
        return result
    if result.locations or not engine.probes_here(result.id):
        return result  # another engine's target, or a state decided in the store: the store's
    changes = {k: getattr(cur, k) for k in _RUNTIME}
    hb = engine.alerting.heartbeats.states.get(result.id)
    changes["hb_state"] = json.dumps(hb.to_dict()) if hb is not None else cur.hb_state
    return replace(result, **changes)


class Closing:
    """Set by serve.stop_servers before the engine stops: open event streams end at once, so a
    SIGTERM need not wait on them."""

    def __init__(self) -> None:
        self.set = False


def build_app(engine: ApiEngine, trusted: bool) -> PingFastPath:
    """ASGI app. `trusted` for the Unix socket; the TCP app asks for an API key on /api/*."""
    cmds = engine.commands
    closing = Closing()
    # Route middleware runs after routing: an unknown path is 404 and a wrong method 405 for all.
    guard = [] if trusted else [Middleware(RequireKey, keys=ApiKeys(engine))]

    async def arguments(route: Route, request: Request) -> tuple[list[Any], dict[str, Any]]:
        if route.method == "GET":
            params = dict(request.query_params)
        else:
            params = parse_json_body(await read_body(request, engine.settings.api.max_body))
        kwargs: dict[str, Any] = {**route.fixed, **validate(route, params)}
        if takes_by(route.command):  # a `by` in the body names the person as the header does
            kwargs["by"] = actor(request, trusted, kwargs.get("by") or None)
        # A slash inside a name arrives as NUL (see PingFastPath.__call__).
        ref = request.path_params.get(route.path_arg) if route.path_arg else None
        return ([ref.replace("\0", "/")] if ref is not None else []), kwargs

    def endpoint(route: Route) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            fn = getattr(cmds, route.command, None)
            if fn is None:
                raise NotAvailable(f"{route.command} is not available in this build")
            args, kwargs = await arguments(route, request)
            try:
                if inspect.iscoroutinefunction(fn):
                    result = await fn(*args, **kwargs)
                else:
                    result = await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
                body = wire.encode(route.command, live(engine, result), cmds.ping_base)
            except Exception as exc:
                raise translate(exc, route.command) from None
            return Response(body, media_type="application/json")

        return handler

    async def health(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(health_report, engine)
        return JSONResponse(body, 200 if body["status"] == "ok" else 503)

    async def metrics(request: Request) -> Response:
        from engine.api.metrics_text import render_metrics

        try:
            text = await anyio.to_thread.run_sync(render_metrics, engine)
        except Exception as exc:
            raise translate(exc, "metrics") from None
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def spec(request: Request) -> Response:
        return JSONResponse(openapi())

    async def events(request: Request) -> Response:
        types = set(filter(None, request.query_params.get("types", "").split(","))) or None
        sub = engine.events.subscribe(maxlen=5000, types=types)

        async def stream() -> Any:
            try:
                yield ": connected\n\n"
                idle = 0.0
                while True:
                    try:
                        batch = await asyncio.wait_for(sub.get_batch(500), 0.5)
                    except TimeoutError:
                        if closing.set or not engine.running:  # SIGTERM need not wait on it
                            return
                        idle += 0.5
                        if idle >= 15.0:
                            idle = 0.0
                            yield ": keep-alive\n\n"
                        continue
                    idle = 0.0
                    yield "".join(
                        f"event: {e.type}\ndata: {json.dumps(e.to_dict())}\n\n" for e in batch
                    )
            finally:
                sub.close()

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    page_route = route_for("target_page", {})

    async def pages(request: Request) -> Response:
        """Every page of `target_page` in one answer, one JSON line each (engine/api/page_walk)."""
        _, kwargs = await arguments(page_route, request)
        for k in ("offset", "around", "after"):
            kwargs.pop(k, None)
        return await page_walk(cmds, kwargs)

    # One Starlette route per path, so a 405 lists every method the path takes (Allow); literal
    # paths first, so /targets/import is not read as the target named "import" for its POST.
    by_path: dict[str, dict[str, Any]] = {}
    for r in sorted(ROUTES, key=lambda r: "{" in r.path):
        by_path.setdefault(r.path, {})[r.method] = endpoint(r)
    routes = [SRoute("/api/v1/targets/pages", pages, middleware=guard)]  # before {ref}
    routes += [
        SRoute(p, _by_method(h), methods=list(h), middleware=guard) for p, h in by_path.items()
    ]
    routes += [
        SRoute("/health", health),
        SRoute("/metrics", metrics),
        SRoute("/openapi.json", spec),
        SRoute("/api/v1/events", events, middleware=guard),
        alertmanager.route(engine, middleware=guard),
    ]
    routes += status_routes(engine) + badge_routes(engine)  # public, no key
    return PingFastPath(engine, Starlette(routes=routes, exception_handlers=HANDLERS), closing)


def _by_method(handlers: dict[str, Any]) -> Any:
    async def endpoint(request: Request) -> Response:
        response: Response = await handlers["GET" if request.method == "HEAD" else request.method](
            request
        )
        return response

    return endpoint


class PingFastPath:
    """Raw ASGI in front of Starlette for /ping/*: no routing, no middleware, answer after commit."""

    def __init__(self, engine: PingSink, app: Any, closing: Closing) -> None:
        self.engine = engine
        self.app = app
        self.closing = closing

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/ping/"):
            await self._ping(scope, receive, send)
            return
        raw = scope.get("raw_path") or b""
        if scope["type"] == "http" and b"%2" in raw and _ENCODED_SLASH.search(raw):
            # `disk /` is a fine target name, but its %2F decodes to a path separator before
            # routing: keep it as NUL (never valid in a name) so /targets/{ref} still matches.
            path = _ENCODED_SLASH.sub(b"%00", raw.split(b"?", 1)[0]).decode("latin-1")
            scope = dict(scope, path=unquote(path))
        await self.app(scope, receive, send)

    async def _ping(self, scope: Any, receive: Any, send: Any) -> None:
        """Pings that reach ASGI: one pipelined behind another request, or on a connection whose
        client does not read its answers. The listeners answer the rest in `ping_protocol` with
        the same `answer_ping`."""
        method = scope["method"]
        if method not in ("GET", "POST", "HEAD"):
            await _reply(send, 405, b"method not allowed\n", allow=b"GET, HEAD, POST")
            return
        if body_too_large(scope.get("headers", [])):
            await _reply(send, 413, TOO_LARGE, close=True)
            return
        if method == "POST":  # drain the body (a log excerpt) piece by piece; nothing is kept
            more, size = True, 0
            while more:
                msg = await receive()
                if msg["type"] == "http.disconnect":  # left mid-body: as on the fast path,
                    return  # an incomplete request records nothing
                more = msg.get("more_body", False)
                size += len(msg.get("body", b""))
                if body_over(size):
                    await _reply(send, 413, TOO_LARGE, close=True)
                    return
        answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

        def reply(status: int, body: bytes) -> None:
            if not answer.done():
                answer.set_result((status, body))

        answer_ping(self.engine, scope["path"], reply)
        status, body = await answer
        await _reply(send, status, body, method == "HEAD")


_ENCODED_SLASH = re.compile(rb"%2[fF]")


async def _reply(
    send: Any,
    status: int,
    body: bytes,
    head: bool = False,
    close: bool = False,
    allow: bytes | None = None,
) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if allow:
        headers.append((b"allow", allow))
    if close:  # uvicorn then closes the connection instead of reading what the client still sends
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
