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
import math
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

from engine.api.ping_protocol import answer_ping
from engine.api.routes import FIELD_TYPES, NUMERIC, ROUTES, Route, openapi
from engine.commands.acting import ACTOR_HEADER, takes_by
from engine.domain import TargetRecord
from engine.errors import BadInput, NotFound, SysAlertError
from engine.health import health_report
from engine.store.db import describe_error

if TYPE_CHECKING:
    from engine.engine import Engine

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
    changes = {k: getattr(cur, k) for k in _RUNTIME}
    hb = getattr(engine.alerting.heartbeats, "states", {}).get(rec.id)
    changes["hb_state"] = json.dumps(hb.to_dict()) if hb is not None else cur.hb_state
    return replace(rec, **changes)


def _bad(error: str, hint: str | None, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "hint": hint}, status)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "array": (list,),
    "object": (dict,),
}


_DURATIONS = ("interval", "timeout", "duration")  # "30s" or a number of seconds


def check_fields(params: dict[str, Any], from_query: bool) -> JSONResponse | None:
    """Reject a value of the wrong JSON type, or a number that does not parse, with a 400."""
    for k, v in params.items():
        allowed = FIELD_TYPES.get(k, ("string",))
        integer = "integer" in allowed
        if from_query or (isinstance(v, str) and k in NUMERIC and k not in _DURATIONS):
            # Query values are text; so may be a body's numbers. Either way they must parse.
            if k in NUMERIC and not (_is_int(v) if integer else _is_number(v)):
                kind = "an integer" if integer else "a number"
                return _bad(f"field {k!r} must be {kind}, not {str(v)[:40]!r}", "e.g. limit=50")
            if from_query:
                continue
        if v is None:
            continue
        ok = not isinstance(v, bool) and any(isinstance(v, _JSON_TYPES[t]) for t in allowed)
        if ok and isinstance(v, float):
            ok = math.isfinite(v)  # json.loads takes NaN and Infinity; a schedule must not
        if ok and "array" in allowed and isinstance(v, list):
            ok = all(isinstance(i, str) for i in v)
        if not ok:
            want = " or ".join("array of strings" if t == "array" else t for t in allowed)
            return _bad(f"field {k!r} must be {want}", "see /openapi.json for each field's type")
    return None


def _is_number(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _is_int(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"-?\d{1,12}", v.strip()) is not None


def _actor(request: Request, trusted: bool) -> str:
    """Who a change is recorded as: the person the client names (the console's or CLI's login),
    else "operator" on the trusted socket and "api" for an API key's caller."""
    raw = unquote(request.headers.get(ACTOR_HEADER, ""))
    name = "".join(c for c in raw if c.isprintable()).strip()[:64]
    return name or ("operator" if trusted else "api")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Keys from config plus `api_keys` rows; compared as SHA-256 hashes in constant time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def valid(self, presented: str | None) -> bool:
        """Call from a worker thread: it reads the key table (a removed key stops working at once)."""
        if not presented:
            return False
        h = hash_key(presented)
        # From the current settings, so keys added or removed in config apply after a SIGHUP.
        configured = [hash_key(k.get_secret_value()) for k in self.engine.settings.api.api_keys]
        ok = False
        for known in configured + self._stored():
            ok |= hmac.compare_digest(h, known)
        return ok

    def _stored(self) -> list[str]:
        from sqlalchemy import select

        from engine.store.models import ApiKey

        with self.engine.store.session() as s:
            return list(s.exec(select(ApiKey.key_hash)).scalars())


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
        if not presented or not await anyio.to_thread.run_sync(keys.valid, presented):
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
            if route.method == "GET":
                params = dict(request.query_params)
            else:
                raw = await request.body()
                try:
                    params = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError as exc:
                    return JSONResponse(
                        {
                            "error": f"body is not JSON: {exc.msg} at {exc.pos}",
                            "hint": "send a JSON object",
                        },
                        400,
                    )
                except RecursionError:  # [[[[… nested deeper than the parser's stack
                    return JSONResponse(
                        {
                            "error": "body is not JSON: nested too deeply",
                            "hint": "send a JSON object",
                        },
                        400,
                    )
                except UnicodeDecodeError as exc:  # json.loads of bytes that are not UTF-8/16/32
                    return JSONResponse(
                        {
                            "error": f"body is not JSON: not UTF-8 at byte {exc.start}",
                            "hint": "send a JSON object encoded as UTF-8",
                        },
                        400,
                    )
                if not isinstance(params, dict):
                    return JSONResponse(
                        {
                            "error": "body must be a JSON object",
                            "hint": 'e.g. {"spec": "tcp://host:22"}',
                        },
                        400,
                    )
            unknown = sorted(set(params) - set(route.body))
            if unknown:
                return JSONResponse(
                    {
                        "error": f"unknown field {unknown[0]!r}",
                        "hint": f"allowed: {', '.join(route.body) or 'none'}",
                    },
                    400,
                )
            wrong = check_fields(params, from_query=route.method == "GET")
            if wrong is not None:
                return wrong
            missing = [k for k in route.required if params.get(k) in (None, "")]
            if missing:
                return JSONResponse(
                    {
                        "error": f"missing field {missing[0]!r}",
                        "hint": f"required: {', '.join(route.required)}",
                    },
                    400,
                )
            kwargs.update(params)
            if takes_by(route.command) and not kwargs.get("by"):
                kwargs["by"] = _actor(request, trusted)
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

    routes = [SRoute(r.path, _endpoint(r), methods=[r.method]) for r in ROUTES]
    routes += [
        SRoute("/health", health),
        SRoute("/metrics", metrics),
        SRoute("/openapi.json", spec),
        SRoute("/api/v1/events", events),
    ]
    return PingFastPath(engine, Starlette(routes=routes))


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
            await _reply(send, 405, b"method not allowed\n")
            return
        if method == "POST":  # drain the body (a log excerpt); we keep nothing of it
            more = True
            while more:
                msg = await receive()
                more = msg.get("more_body", False)
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


async def _reply(send: Any, status: int, body: bytes, head: bool = False) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
