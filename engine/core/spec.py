"""A parsed target spec: what kind of check, and against what. Plain data; the parser that makes
one from what a user typed is engine.checks.specs.parse_spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import overload
from urllib.parse import urlsplit

from engine.core.durations import parse_duration
from engine.core.limits import DURATION_MAX, HEARTBEAT_EVERY, HEARTBEAT_GRACE

DURATION_BOUNDS = {"every": HEARTBEAT_EVERY, "grace": HEARTBEAT_GRACE}


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A parsed spec. `raw` is what the user typed; it is sealed in the store, never logged."""

    kind: str
    raw: str
    host: str | None = None
    port: int | None = None
    url: str | None = None
    argv: tuple[str, ...] = ()
    metric: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def param_float(self, key: str, default: float | None = None) -> float | None:
        v = self.params.get(key)
        return default if v is None else float(v)

    @overload
    def param_duration(self, key: str, default: float) -> float: ...
    @overload
    def param_duration(self, key: str, default: None = None) -> float | None: ...
    def param_duration(self, key: str, default: float | None = None) -> float | None:
        v = self.params.get(key)
        bounds = DURATION_BOUNDS.get(key, (0.0, DURATION_MAX))
        return default if v is None else parse_duration(v, key, bounds)

    def default_name(self) -> str:
        """A readable default name (sealed like any name)."""
        if self.kind == "system":
            return (
                f"{self.metric}"
                if self.metric != "disk"
                else f"disk {self.params.get('path', '/')}"
            )
        if self.kind == "heartbeat":
            return self.host or "heartbeat"
        if self.kind == "command":
            return self.argv[0].rsplit("/", 1)[-1] if self.argv else "command"
        if self.kind == "http" and self.url:
            return urlsplit(self.url).hostname or self.url
        if self.kind == "dns":
            return f"{self.host} {self.params.get('type', 'A')}"
        return f"{self.host}:{self.port}" if self.port else (self.host or self.raw)
