"""Request models and the OpenAPI document, derived from the command layer's signatures.

Each route's body (or query) fields are parameters of a command method (engine.commands); their
annotations, with the limits engine.core.limits attaches to them (`Name`, `Tags`, ...), become one
pydantic model per route. The server validates requests with it, and /openapi.json shows its
JSON schema, so a parameter is typed once, beside the command, and there is no second table.
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from engine.api import wire
from engine.api.routes import ROUTES, Route
from engine.core.errors import BadInput
from engine.core.limits import ACTOR_MAX, REF_MAX, bad_char

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "hint": {"type": ["string", "null"]}},
}
_ERRORS = {
    "400": "Bad input: what is wrong and how to fix it",
    "401": "API key missing or wrong (TCP listener)",
    "404": "Not found",
    "409": "Refused in the current state",
    "501": "Not available in this build",
    "503": "The store cannot be used now (see /health)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _command(route: Route) -> Any:
    from engine.commands import Commands

    return getattr(Commands, route.signature or route.command)


def _annotation(fn: Any, name: str) -> Any:
    """One parameter's annotation, evaluated in the command's module (annotations are strings
    there; only the parameters a route exposes are evaluated)."""
    raw = inspect.signature(fn).parameters[name].annotation
    if raw is inspect.Parameter.empty:
        return Any
    if not isinstance(raw, str):
        return raw
    namespace = {**vars(typing), **fn.__globals__}
    return eval(raw, namespace)  # noqa: S307 - our own source's annotation text


def request_model(route: Route) -> type[BaseModel]:
    """The model of a route's body (or query) fields: their types and limits from the command's
    signature; required where the command has no default (nothing is required for PATCH)."""
    key = (route.method, route.path)
    if key not in _MODELS:
        _MODELS[key] = _build_model(route)
    return _MODELS[key]


_MODELS: dict[tuple[str, str], type[BaseModel]] = {}


def _build_model(route: Route) -> type[BaseModel]:
    fn = _command(route)
    params = inspect.signature(fn).parameters
    fields: dict[str, Any] = {}
    for name in route.body:
        p = params[name]
        required = p.default is inspect.Parameter.empty and route.method != "PATCH"
        ann = _annotation(fn, name)
        if route.method == "PATCH":
            ann = ann | None
        fields[name] = (ann, ... if required else (None if route.method == "PATCH" else p.default))
    model_name = "".join(w.title() for w in route.command.split("_")) + route.method.title()
    return create_model(model_name, __base__=_Strict, **fields)


def validate(route: Route, params: dict[str, Any]) -> dict[str, Any]:
    """The route's arguments from a body or query: only the fields the caller gave, as the
    model read them; BadInput names the first wrong field and what it must be."""
    model = request_model(route)
    for name, value in params.items():  # lax mode reads true as 1: a 1 s interval from `true`
        field = model.model_fields.get(name)
        if isinstance(value, bool) and field is not None and not _takes_bool(field.annotation):
            raise BadInput(
                f"field {name!r} is {str(value).lower()}, which is no value for it",
                "see /openapi.json for each field's type and limits",
            )
    try:
        parsed = model.model_validate(params)
    except ValidationError as exc:
        raise _bad_field(route, exc) from None
    return parsed.model_dump(exclude_unset=True)


def _takes_bool(annotation: Any) -> bool:
    """Whether a field's type admits true/false (bool or Any anywhere in it)."""
    if annotation is bool or annotation is Any:
        return True
    return any(_takes_bool(a) for a in typing.get_args(annotation))


def _bad_field(route: Route, exc: ValidationError) -> BadInput:
    errors = exc.errors(include_url=False, include_input=False)
    order = {"extra_forbidden": 0, "missing": 1}  # an unknown field explains a missing one
    err = min(errors, key=lambda e: order.get(e["type"], 2))
    field = str(err["loc"][0]) if err["loc"] else "body"
    if err["type"] == "extra_forbidden":
        return BadInput(f"unknown field {field!r}", f"allowed: {', '.join(route.body) or 'none'}")
    if err["type"] == "missing":
        need = [k for k, f in request_model(route).model_fields.items() if f.is_required()]
        return BadInput(f"missing field {field!r}", f"required: {', '.join(need)}")
    where = ".".join(str(x) for x in err["loc"])
    msg = err["msg"].replace("valid list", "valid array").replace("dictionary", "object")
    msg = msg.removeprefix(
        "Value error, "
    )  # our own validators' sentence (engine.core.limits.no_nul)
    return BadInput(f"field {where!r}: {msg}", "see /openapi.json for each field's type and limits")


def surrogate_free(value: Any, where: str = "body") -> None:
    """Refuse a lone surrogate anywhere in a JSON body (`"\\ud800"` parses, but is no text any
    store or answer can encode)."""
    if isinstance(value, str):
        bad = bad_char(value, multiline=True)
        if bad is not None and "surrogate" in bad:
            raise BadInput(f"{where} holds {bad}", "send valid UTF-8 text")
    elif isinstance(value, dict):
        for k, v in value.items():
            surrogate_free(k, where)
            surrogate_free(v, f"field {str(k).encode('utf-8', 'replace').decode()!r}")
    elif isinstance(value, list):
        for v in value:
            surrogate_free(v, where)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema as a query parameter: never null (an absent parameter is the default)."""
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        schema = dict(schema, anyOf=kept) if len(kept) > 1 else {**kept[0]}
    schema.pop("default", None)
    return schema


def _operation(route: Route, defs: dict[str, Any]) -> dict[str, Any]:
    """One route's operation; the 200 body's schema is the command's return annotation's (the
    adapter the server encodes with and the attach client decodes with), its models in `defs`."""
    from engine.api.acting import ACTOR_HEADER, takes_by

    fixed = "_".join(f"{k}_{v}" for k, v in route.fixed.items())
    responses = {"200": _json(wire.response_schema(route.command, defs), "OK")}
    responses.update({code: _json(ERROR_SCHEMA, text) for code, text in _ERRORS.items()})
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.command + (f"_{fixed}" if fixed else ""),
        "responses": responses,
    }
    params: list[dict[str, Any]] = []
    if route.path_arg:
        params.append(
            {
                "name": route.path_arg,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": REF_MAX},
            }
        )
    model = request_model(route)
    schema = model.model_json_schema()
    if route.method == "GET":
        required = set(schema.get("required", []))
        params += [
            {
                "name": k,
                "in": "query",
                "required": k in required,
                "schema": _query_schema(dict(v)),
            }
            for k, v in schema.get("properties", {}).items()
        ]
    elif route.body:
        schema.pop("title", None)
        op["requestBody"] = {
            "required": bool(schema.get("required")),
            "content": {"application/json": {"schema": schema}},
        }
        responses["413"] = _json(ERROR_SCHEMA, "Body larger than [api] max_body")
    if takes_by(route.command):
        params.append(
            {
                "name": ACTOR_HEADER,
                "in": "header",
                "required": False,
                "description": "who makes the change, for the audit log (URL-encoded)",
                "schema": {"type": "string", "maxLength": ACTOR_MAX, "pattern": "^[ -~]*$"},
            }
        )
    if params:
        op["parameters"] = params
    return op


@functools.cache
def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document: every REST route with its body, parameters and responses."""
    paths: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for r in ROUTES:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, defs)
    text = {"text/plain": {"schema": {"type": "string"}}}
    paths["/health"] = {
        "get": {
            "summary": "Health (200 healthy, 503 with the failing part)",
            "security": [],
            "responses": {
                "200": _json({"type": "object"}, "healthy"),
                "503": _json({"type": "object"}, "a part is failing: the body says which"),
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics",
            "security": [],
            "responses": {"200": {"description": "Prometheus text format", "content": text}},
        }
    }
    ping_answers = {
        "200": "recorded",
        "400": "exit status outside 0-255",
        "404": "unknown token, or not a ping path",
        "413": "body larger than 10 MiB (nothing recorded; up to that, a body is read and dropped)",
        "503": "could not be recorded, try again",
    }
    paths["/ping/{token}"] = {
        m: {
            "summary": "Heartbeat ping (Healthchecks-compatible); also /start, /fail, /log, /CODE",
            "security": [],
            "parameters": [
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                code: {"description": why, "content": text} for code, why in ping_answers.items()
            },
        }
        for m in ("get", "post", "head")
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SysAlert API",
            "version": "1",
            "description": (
                "Also served: GET /api/v1/events, a server-sent event stream (text/event-stream, "
                "?types=result,state,...) that stays open, so it is not listed as an operation; "
                "and GET /api/v1/targets/pages, every page of /api/v1/targets/page (same query, "
                "walked by its cursor) as one JSON line each (application/x-ndjson)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "security": [{"apiKey": []}],
    }
