"""How the API answers an error: one Starlette exception handler per kind, one JSON shape.

Every error body is `{"error": sentence, "hint": how to fix it or null}`. Bad input is 400, an
unknown name 404, a refusal in the current state 409, a body over [api] max_body 413, a store
that cannot be used now 503 (as /health says). A bug of ours is a JSON 500 and a log line without
values; the daemon never answers 5xx to input, whatever it is.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.api.requests import BodyTooLarge
from engine.core.errors import BadInput, NotFound, SysAlertError
from engine.store.db import StoreUnavailable, is_unavailable

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """No API key, or a wrong one, on the TCP listener."""


class NotAvailable(SysAlertError):
    """A route whose command this build does not have."""


class InternalError(Exception):
    """A bug of ours: the class name only (its text may hold values)."""


def translate(exc: Exception, what: str) -> Exception:
    """What a command's exception is answered as: ours as raised, a TypeError as bad arguments, a
    store that is down as StoreUnavailable, anything else as an InternalError (logged once)."""
    if isinstance(exc, SysAlertError | BodyTooLarge):
        return exc
    if isinstance(exc, TypeError):
        return BadInput(f"bad arguments: {exc}", "see /openapi.json")
    if is_unavailable(exc):
        return StoreUnavailable(exc)
    log.error("API %s failed: %s", what, type(exc).__name__)
    return InternalError(type(exc).__name__)


def _body(error: str, hint: str | None, status: int, **kw: Any) -> JSONResponse:
    return JSONResponse({"error": error, "hint": hint}, status, **kw)


def _ours(status: int) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SysAlertError)
        return _body(exc.message, exc.hint, status)

    return handler


async def _too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    return _body(
        str(exc),
        "send less at once (import in parts), or raise [api] max_body",
        413,
        headers={"Connection": "close"},  # the rest of the body is not read
    )


async def _unauthorized(request: Request, exc: Exception) -> Response:
    return _body(
        "API key missing or wrong", "send X-API-Key: KEY or Authorization: Bearer KEY", 401
    )


async def _internal(request: Request, exc: Exception) -> Response:
    return _body(f"internal error ({exc})", "see the daemon log", 500)


HANDLERS: dict[Any, Any] = {
    BadInput: _ours(400),
    NotFound: _ours(404),
    SysAlertError: _ours(409),
    NotAvailable: _ours(501),
    StoreUnavailable: _ours(503),
    BodyTooLarge: _too_large,
    Unauthorized: _unauthorized,
    InternalError: _internal,
}
