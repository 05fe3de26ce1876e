"""Reading a REST request: its body (bounded), its JSON, the actor a change is recorded as.

Everything here refuses with an exception the app's handlers answer (engine.api.errors): BadInput
is a 400 with a hint, BodyTooLarge a 413 that closes the connection.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from engine.api.acting import ACTOR_HEADER
from engine.api.schema import surrogate_free
from engine.commands.base import check_actor
from engine.core.errors import BadInput
from engine.core.limits import ACTOR_MAX


class BodyTooLarge(Exception):
    """A request body over [api] max_body (answered 413; the rest of the body is not read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read in pieces and refused (413) once it passes `limit` bytes: a body
    announced larger is refused before a byte of it is read."""
    announced = request.headers.get("content-length", "").strip()
    if announced and (not announced.isdigit() or int(announced) > limit):
        raise BodyTooLarge(limit)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise BodyTooLarge(limit)
    return bytes(buf)


def _no_constant(name: str) -> Any:
    """json.loads reads NaN and Infinity; no field of ours takes them."""
    raise BadInput(f"body is not JSON: {name} is not a number", "send finite numbers")


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


def actor(request: Request, trusted: bool, named: str | None = None) -> str:
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
