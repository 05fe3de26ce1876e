"""Command results on the wire: one pydantic TypeAdapter per command, from its return annotation.

The server encodes a result with the adapter of the command that made it, the attach client
decodes the answer with the same adapter, and /openapi.json shows its JSON schema: the command's
return annotation is the one contract, so a command returns the same types embedded and attached.

A pydantic model (engine.core.results) is its own wire form. `TargetRecord`, a dataclass whose
JSON form is `public()` (spec instead of spec_text, a state symbol, the ping URL instead of the
token), gets that form here until the commands return a model for it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    TypeAdapter,
    WithJsonSchema,
    create_model,
)

from engine.core.domain import TargetRecord


@dataclasses.dataclass
class AttachedTarget(TargetRecord):
    """A target as a daemon answered it: `public()` keeps the daemon's ping URL (its listener,
    which the attached side may not know)."""

    ping_url: str | None = dataclasses.field(default=None, compare=False)

    def public(self, ping_base: str | None = None) -> dict[str, Any]:
        d = super().public(ping_base)
        d.pop("ping_url", None)
        if self.ping_url is not None:
            d["ping_url"] = self.ping_url
        elif self.kind == "heartbeat" and self.token:
            d["ping_url"] = super().public(ping_base)["ping_url"]
        return d


def _public_target_model() -> Any:
    """The model of `TargetRecord.public()`: its fields, spec_text as spec, plus symbol and
    ping_url (heartbeats only)."""
    hints = typing.get_type_hints(TargetRecord)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(TargetRecord):
        if f.name.startswith("_") or f.name == "token":
            continue
        fields["spec" if f.name == "spec_text" else f.name] = (hints[f.name], ...)
    fields["symbol"] = (str, ...)
    fields["ping_url"] = (str, None)
    return create_model(
        "Target", __config__=ConfigDict(extra="ignore"), __module__=__name__, **fields
    )


_PUBLIC_TARGET = _public_target_model()
_PUBLIC_SCHEMA = TypeAdapter(_PUBLIC_TARGET).json_schema(mode="serialization")
_PUBLIC_SCHEMA["description"] = "A target (TargetRecord.public): ping_url for heartbeats only"
_PUBLIC_SCHEMA["properties"]["ping_url"] = {"type": "string"}  # absent, never null


def _target_out(rec: TargetRecord, info: SerializationInfo) -> Any:
    return rec.public((info.context or {}).get("ping_base"))


def _target_in(value: Any) -> TargetRecord:
    if isinstance(value, TargetRecord):
        return value
    pub = _PUBLIC_TARGET.model_validate(value)
    data = pub.model_dump(exclude={"symbol", "ping_url"})
    data["spec_text"] = data.pop("spec")
    url = pub.ping_url
    token = url.rsplit("/ping/", 1)[1] if url and "/ping/" in url else None
    return AttachedTarget(**data, token=token, ping_url=url)


TargetWire = Annotated[
    TargetRecord,
    PlainValidator(_target_in),
    PlainSerializer(_target_out, return_type=Any),
    WithJsonSchema(_PUBLIC_SCHEMA),
]


def _wire_type(tp: Any) -> Any:
    """`tp` with TargetRecord replaced by its wire form, inside lists, dicts and unions too."""
    if tp is TargetRecord:
        return TargetWire
    args = typing.get_args(tp)
    if not args:
        return tp
    origin = typing.get_origin(tp)
    wired = tuple(_wire_type(a) for a in args)
    if wired == args:
        return tp
    if origin in (typing.Union, types.UnionType):
        return typing.Union[wired]  # noqa: UP007 - built from a tuple
    return origin[wired if len(wired) > 1 else wired[0]]


def return_type(command: str) -> Any:
    """A command's return annotation, evaluated in its own module."""
    from engine.commands import Commands

    fn = getattr(Commands, command)
    raw = inspect.signature(fn).return_annotation
    if raw is inspect.Signature.empty:
        return Any
    if isinstance(raw, str):
        raw = eval(raw, {**vars(typing), **fn.__globals__})  # noqa: S307 - our own annotation
    return Any if raw is None else raw


@functools.cache
def adapter(command: str) -> TypeAdapter[Any]:
    return TypeAdapter(_wire_type(return_type(command)))


def encode(command: str, result: Any, ping_base: str) -> bytes:
    """The JSON body of `command`'s result (what the client's `decode` reads back)."""
    return adapter(command).dump_json(result, context={"ping_base": ping_base}, warnings=False)


def decode(command: str, body: bytes) -> Any:
    """An answer read back as the type the command returns embedded."""
    return adapter(command).validate_json(body)


def response_schema(command: str, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of `command`'s 200 body; shared definitions go into `defs`."""
    # Validation mode: the shape the client reads back (a model's serializer that only drops its
    # unset keys would otherwise hide its fields behind dict[str, Any]).
    schema = adapter(command).json_schema(
        mode="validation", ref_template="#/components/schemas/{model}"
    )
    defs.update(schema.pop("$defs", {}))
    return _target_ref(schema, defs)


def _target_ref(schema: Any, defs: dict[str, Any]) -> Any:
    """The inline target schema (WithJsonSchema cannot refer) as a reference to one definition."""
    if schema == _PUBLIC_SCHEMA:
        defs["Target"] = _PUBLIC_SCHEMA
        return {"$ref": "#/components/schemas/Target"}
    if isinstance(schema, dict):
        return {k: _target_ref(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_target_ref(v, defs) for v in schema]
    return schema
