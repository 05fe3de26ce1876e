"""The `[alertmanager]` section: where acknowledging or silencing an Alertmanager incident makes a
silence (its API v2), and how long an acknowledgement's silence runs before it is renewed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from engine.core.durations import parse_duration
from engine.core.errors import BadInput
from engine.core.limits import DURATION_MAX


class AlertmanagerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    url: SecretStr = SecretStr("")  # e.g. http://alertmanager:9093 (may hold credentials)
    ack_silence: float = 86400.0  # an acknowledgement silences this long, renewed while acked
    timeout: float = 5.0

    @field_validator("ack_silence", "timeout", mode="before")
    @classmethod
    def _dur(cls, v: Any, info: Any) -> float:
        try:
            return parse_duration(v, info.field_name, (1.0, DURATION_MAX))
        except BadInput as exc:
            raise ValueError(f"{exc.message}; {exc.hint}") from None

    @field_validator("url")
    @classmethod
    def _url(cls, v: SecretStr) -> SecretStr:
        text = v.get_secret_value().strip().rstrip("/")
        if text and not text.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https:// (Alertmanager's address)")
        return SecretStr(text)
