"""Targets and rules declared in the config file ([[targets]], [[rules]]), each entry checked by
the same rules `target add` and `rules add` use, so an error points at its own line."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.checks.validators import check_threshold, validate_conditions
from engine.config.sections import Section, dur
from engine.core.errors import BadInput
from engine.core.limits import check_name
from engine.security.privacy import redact


class TargetDecl(Section):
    spec: str
    name: str = ""
    interval: float | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    depends_on: str = ""
    failure_threshold: int | None = None
    recovery_threshold: int | None = None

    @field_validator("interval", "timeout", mode="before")
    @classmethod
    def _durations(cls, v: Any, info: Any) -> float | None:
        return None if v is None else dur(v, info)

    @field_validator("spec")
    @classmethod
    def _spec(cls, v: str) -> str:
        from engine.checks.specs import parse_spec

        _as_value_error(parse_spec, v)
        return v

    # Each field is checked by the rule `target add` uses, so the error points at its own line.
    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return v and _as_value_error(check_name, v, "target")

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, v: list[str]) -> list[str]:
        return _as_value_error(validate_conditions, v)

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        from engine.checks.options import check_options
        from engine.checks.specs import parse_spec

        spec = info.data.get("spec")
        if spec is not None:  # a bad spec has its own error already
            _as_value_error(check_options, parse_spec(spec).kind, v)
        return v

    @field_validator("failure_threshold", "recovery_threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any, info: Any) -> int | None:
        return _as_value_error(check_threshold, v, info.field_name)

    @field_validator("depends_on")
    @classmethod
    def _parent(cls, v: str, info: Any) -> str:
        if v and v == info.data.get("name"):
            raise ValueError("a target cannot depend on itself; name another target")
        return v


def _as_value_error(check: Any, *args: Any) -> Any:
    """Run one of the command layer's checks; its BadInput becomes pydantic's ValueError (first
    line only: a condition's caret drawing does not fit a `file:line: key = value: why` line).
    A daemon's stderr is a log (the journal), so an address in the message is redacted."""
    try:
        return check(*args)
    except BadInput as exc:
        first = redact(exc.message.splitlines()[0])
        raise ValueError(f"{first}; {exc.hint}" if exc.hint else first) from None


class RuleDecl(Section):
    name: str
    metric: str
    comparison: Literal[">", "<", ">=", "<=", "==", "!="]
    threshold: float
    duration: float = 0.0
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    channels: list[str] = Field(default_factory=list)
    target: str = ""
    enabled: bool = True

    _d = field_validator("duration", mode="before")(dur)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        from engine.core.rulespec import METRICS

        if v not in METRICS:
            raise ValueError(f"unknown metric; use one of {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _whole(self) -> RuleDecl:
        """The rule as the engine will build it: a bad one fails at load, not every tick."""
        from engine.core.rulespec import RuleSpec

        _as_value_error(
            RuleSpec,
            "",
            self.name,
            self.metric,
            self.comparison,
            self.threshold,
            self.duration,
            self.severity,
            list(self.channels),
            self.target,
            self.enabled,
        )
        return self
