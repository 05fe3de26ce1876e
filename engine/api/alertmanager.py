"""POST /api/v1/alertmanager: Alertmanager's webhook (version 4) in, behind the API key.

Not a command-table route: the body is Alertmanager's document (camelCase fields, more in later
releases), read leniently and bounded, then handed to the alerting's receiver in a worker thread.
A body that is not such a webhook gets a 400 that says so; Alertmanager retries only on 5xx.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.alerting.alertmanager import parse_webhook
from engine.api.ports import PingSink
from engine.core.errors import BadInput

log = logging.getLogger(__name__)
PATH = "/api/v1/alertmanager"
MAX_BODY = 4 * 1024 * 1024  # 1000 alerts (the most one message may hold here) with room to spare


async def _bounded(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (announced or read)."""
    announced = request.headers.get("content-length", "").strip()
    if announced and (not announced.isdigit() or int(announced) > limit):
        return None
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            return None
    return bytes(buf)


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadInput(
            f"body is not JSON: {type(exc).__name__}", "send Alertmanager's webhook"
        ) from None
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object", "send Alertmanager's webhook (version 4)")
    return body


def route(
    engine: PingSink,
    auth: Callable[[Request], Awaitable[Response | None]] | None = None,
    middleware: Sequence[Middleware] = (),
) -> Route:
    """The route, for build_app: `auth` is an API-key check (its answer refuses the caller),
    or `middleware` guards it as the other /api/* routes are guarded."""

    async def receive(request: Request) -> Response:
        denied = await auth(request) if auth is not None else None
        if denied is not None:
            return denied
        raw = await _bounded(request, MAX_BODY)
        if raw is None:
            return JSONResponse(
                {
                    "error": f"request body is larger than {MAX_BODY} bytes",
                    "hint": "set max_alerts in the webhook_configs receiver (e.g. 500)",
                },
                413,
                headers={"Connection": "close"},
            )
        try:
            hook = parse_webhook(_object(raw))
        except BadInput as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint}, 400)
        receiver = engine.alerting.alertmanager
        try:
            answer = await anyio.to_thread.run_sync(receiver.receive, hook, time.time())
        except Exception as exc:  # the store is down, or a bug: Alertmanager retries a 5xx
            log.error("Alertmanager webhook not taken in: %s", type(exc).__name__)
            return JSONResponse(
                {"error": f"not taken in now ({type(exc).__name__})", "hint": "see /health"}, 503
            )
        return JSONResponse(answer)

    return Route(PATH, receive, methods=["POST"], middleware=middleware)
