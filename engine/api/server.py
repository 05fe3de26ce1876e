"""The HTTP API: heartbeat pings (hot path, raw ASGI), /health, /metrics, REST, server-sent events.

Served on the data directory's Unix socket (mode 0600: the socket's permissions are the
authentication) and optionally on TCP, where /api/* needs an API key (X-API-Key or Bearer).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route as SRoute

from engine.api.ping_protocol import TOO_LARGE, answer_ping, body_over, body_too_large
from engine.api.routes import ROUTES, Route
from engine.api.schema import openapi, surrogate_free, validate
from engine.commands.acting import ACTOR_HEADER, takes_by
from engine.commands.base import check_actor
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput, NotFound, SysAlertError
from engine.core.limits import ACTOR_MAX
from engine.runtime.health import health_report
from engine.store.db import describe_error

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

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


def jsonable(x: Any, ping_base: str, engine: Engine | None = None) -> Any:
    if isinstance(x, TargetRecord) and engine is not None:
        x = _live(engine, x)
    if hasattr(x, "public"):
        return x.public(ping_base)
    if isinstance(x, list):
        return [jsonable(i, ping_base, engine) for i in x]
    return x


def _live(engine: Engine, rec: TargetRecord) -> TargetRecord:
    """A record read from the store, with the engine's in-memory state laid over it.

    Without this a target answered 200 to a ping still reads `unknown` until the next runtime
    flush (seconds later), and an attached console or `sysalert status` shows stale states.
    """
    cur = engine.targets.get(rec.id)
    if cur is None or cur is rec or cur.kind != rec.kind:
        return rec
    if rec.locations or not engine.probes_here(rec.id):
        return rec  # another engine's target, or a state decided in the store: the store's
    changes = {k: getattr(cur, k) for k in _RUNTIME}
    hb = getattr(engine.alerting.heartbeats, "states", {}).get(rec.id)
    changes["hb_state"] = json.dumps(hb.to_dict()) if hb is not None else cur.hb_state
    return replace(rec, **changes)


def _bad(error: str, hint: str | None, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "hint": hint}, status)


def _no_constant(name: str) -> Any:
    """json.loads reads NaN and Infinity; no field of ours takes them."""
    raise BadInput(f"body is not JSON: {name} is not a number", "send finite numbers")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read in pieces and refused (413) once it passes `limit` bytes: a body
    announced larger is refused before a byte of it is read."""
    announced = request.headers.get("content-length", "").strip()
    if announced and (not announced.isdigit() or int(announced) > limit):
        raise _TooLarge(limit)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise _TooLarge(limit)
    return bytes(buf)


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def response(self) -> JSONResponse:
        return JSONResponse(
            {
                "error": f"request body is larger than {self.limit} bytes",
                "hint": "send less at once (import in parts), or raise [api] max_body",
            },
            413,
            headers={"Connection": "close"},  # the rest of the body is not read
        )


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object, or BadInput saying why not."""
    try:
        params = json.loads(raw, parse_constant=_no_constant) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise BadInput(f"body is not JSON: {exc.msg} at {exc.pos}", "send a JSON object") from None
    except RecursionError:  # [[[[… nested deeper than the parser's stack
        raise BadInput("body is not JSON: nested too deeply", "send a JSON object") from None
    except UnicodeDecodeError as exc:  # json.loads of bytes that are not UTF-8/16/32
        raise BadInput(
            f"body is not JSON: not UTF-8 at byte {exc.start}",
            "send a JSON object encoded as UTF-8",
        ) from None
    if not isinstance(params, dict):
        raise BadInput("body must be a JSON object", 'e.g. {"spec": "tcp://host:22"}')
    surrogate_free(params)
    return params


_HEADER_TEXT = re.compile(r"[ -~]*")


def _actor(request: Request, trusted: bool, named: str | None = None) -> str:
    """Who a change is recorded as. On the Unix socket (its 0600 mode is the authentication) the
    person the client names (the console's or CLI's login), else "operator". On TCP anyone with a
    key could name anyone: the key's own name comes first (`api:grafana for alice`)."""
    if named is None:
        header = request.headers.get(ACTOR_HEADER, "")
        if len(header) > ACTOR_MAX or not _HEADER_TEXT.fullmatch(header):
            raise BadInput(
                f"{ACTOR_HEADER}: at most {ACTOR_MAX} printable ASCII characters (URL-encode others)"
            )
        named = unquote(header)
    name = check_actor(named) if named else ""
    if trusted:
        return name or "operator"
    caller = getattr(request.state, "caller", None) or "api"
    return f"{caller} for {name}" if name else caller


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Keys from config plus `api_keys` rows; compared as SHA-256 hashes in constant time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def caller(self, presented: str | None) -> str | None:
        """Call from a worker thread: it reads the key table (a removed key stops working at
        once). Who holds the key, for the audit log: `api:LABEL` (`api:ID` for a key without a
        label, `api:config` for one from [api] api_keys); None for a missing or wrong key."""
        if not presented:
            return None
        h = hash_key(presented)
        # From the current settings, so keys added or removed in config apply after a SIGHUP.
        known = [(hash_key(k.get_secret_value()), None) for k in self.engine.settings.api.api_keys]
        known += self._stored()
        found: tuple[str, Any] | None = None
        for key_hash, row in known:  # every comparison runs: constant time over the table
            if hmac.compare_digest(h, key_hash) and found is None:
                found = (key_hash, row)
        if found is None:
            return None
        row = found[1]
        if row is None:
            return "api:config"
        label = self.engine.store.open_("api_keys", "label_s", row.id, row.label_s)
        return f"api:{label or row.id}"

    def _stored(self) -> list[tuple[str, Any]]:
        from sqlalchemy import select

        from engine.store.models import ApiKey

        with self.engine.store.session() as s:
            return [(r.key_hash, r) for r in s.execute(select(ApiKey)).scalars()]


def build_app(engine: Engine, trusted: bool) -> Any:
    """ASGI app. `trusted` for the Unix socket; the TCP app asks for an API key on /api/*."""
    keys = ApiKeys(engine)
    cmds = engine.commands
    ping_base = cmds.ping_base

    def _presented(request: Request) -> str | None:
        key = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        return key

    async def _auth(request: Request) -> Response | None:
        if trusted:
            return None
        presented = _presented(request)
        caller = await anyio.to_thread.run_sync(keys.caller, presented) if presented else None
        request.state.caller = caller
        if caller is None:
            return JSONResponse(
                {
                    "error": "API key missing or wrong",
                    "hint": "send X-API-Key: KEY or Authorization: Bearer KEY",
                },
                401,
            )
        return None

    def _endpoint(route: Route) -> Any:
        async def handler(request: Request) -> Response:
            denied = await _auth(request)  # first: an unauthenticated caller learns nothing more
            if denied is not None:
                return denied
            fn = getattr(cmds, route.command, None)
            if fn is None:
                return JSONResponse(
                    {"error": f"{route.command} is not available in this build", "hint": None}, 501
                )
            kwargs: dict[str, Any] = dict(route.fixed)
            try:
                if route.method == "GET":
                    params = dict(request.query_params)
                else:
                    raw = await read_body(request, engine.settings.api.max_body)
                    params = parse_json_body(raw)
                params = validate(route, params)
            except _TooLarge as exc:
                return exc.response()
            except BadInput as exc:
                return _bad(exc.message, exc.hint)
            kwargs.update(params)
            if takes_by(route.command):  # a `by` in the body names the person as the header does
                try:
                    kwargs["by"] = _actor(request, trusted, kwargs.get("by") or None)
                except BadInput as exc:
                    return _bad(exc.message, exc.hint)
            # A slash inside a name arrives as NUL (see PingFastPath.__call__).
            args = (
                [request.path_params[route.path_arg].replace("\0", "/")] if route.path_arg else []
            )
            try:
                if inspect.iscoroutinefunction(fn):
                    result = await fn(*args, **kwargs)
                else:
                    result = await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
            except NotFound as exc:
                return JSONResponse({"error": exc.message, "hint": exc.hint}, 404)
            except BadInput as exc:
                return JSONResponse({"error": exc.message, "hint": exc.hint}, 400)
            except TypeError as exc:
                return JSONResponse(
                    {"error": f"bad arguments: {exc}", "hint": "see /openapi.json"}, 400
                )
            except SysAlertError as exc:
                return JSONResponse({"error": exc.message, "hint": exc.hint}, 409)
            except OperationalError as exc:  # the store is down: say so, as /health does
                return _bad(
                    f"the store cannot be used now: {describe_error(exc)}", "see GET /health", 503
                )
            except Exception as exc:  # a bug of ours: a JSON 500, and a log line without values
                log.error("API %s failed: %s", route.command, type(exc).__name__)
                return _bad(f"internal error ({type(exc).__name__})", "see the daemon log", 500)
            return JSONResponse(jsonable(result, ping_base, engine))

        return handler

    async def health(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(health_report, engine)
        return JSONResponse(body, 200 if body["status"] == "ok" else 503)

    async def metrics(request: Request) -> Response:
        from engine.api.metrics_text import render_metrics

        text = await anyio.to_thread.run_sync(render_metrics, engine)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def spec(request: Request) -> Response:
        return JSONResponse(openapi())

    async def events(request: Request) -> Response:
        denied = await _auth(request)
        if denied is not None:
            return denied
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
                        if _stopping(engine):  # end the stream so SIGTERM need not wait on it
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

    # One Starlette route per path, so a 405 lists every method the path takes (Allow); literal
    # paths first, so /targets/import is not read as the target named "import" for its POST.
    by_path: dict[str, dict[str, Any]] = {}
    for r in sorted(ROUTES, key=lambda r: "{" in r.path):
        by_path.setdefault(r.path, {})[r.method] = _endpoint(r)
    routes = [SRoute(p, _by_method(h), methods=list(h)) for p, h in by_path.items()]
    routes += [
        SRoute("/health", health),
        SRoute("/metrics", metrics),
        SRoute("/openapi.json", spec),
        SRoute("/api/v1/events", events),
    ]
    return PingFastPath(engine, Starlette(routes=routes))


def _by_method(handlers: dict[str, Any]) -> Any:
    async def endpoint(request: Request) -> Response:
        response: Response = await handlers["GET" if request.method == "HEAD" else request.method](
            request
        )
        return response

    return endpoint


class PingFastPath:
    """Raw ASGI in front of Starlette for /ping/*: no routing, no middleware, answer after commit."""

    def __init__(self, engine: Engine, app: Any) -> None:
        self.engine = engine
        self.app = app

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


def _stopping(engine: Engine) -> bool:
    stop = getattr(engine, "_stop", None)
    return bool(stop is not None and stop.is_set()) or not engine.running


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
