"""Plain, unsealed records the engine works with and the command layer returns.

These live only in memory (and in answers to an authorised caller); the store holds them sealed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.core.spec import TargetSpec
from engine.core.spec_secrets import mask_spec

_parse_stored: Callable[[str], TargetSpec] | None = None


def use_spec_parser(parse: Callable[[str], TargetSpec]) -> None:
    """engine.checks.specs hands its parser in when it is imported: the record parses its spec
    lazily (100,000 targets load without parsing one), and core stays below checks."""
    global _parse_stored
    _parse_stored = parse


STATES = ("up", "pending", "down", "partial", "degraded", "unknown", "maintenance", "paused")
STATE_SYMBOLS = {
    "up": "●",
    "pending": "◐",
    "down": "✖",
    "partial": "◑",  # down in some locations, fewer than the quorum
    "degraded": "▲",
    "unknown": "?",
    "maintenance": "⚒",
    "paused": "‖",
}


@dataclass(slots=True)
class TargetRecord:
    """One target as the engine holds it. Slots: 100,000 of them live as long as the engine, and
    with 32 fields (past the 30 a shared-key instance dict holds) each one's __dict__ took 1.6 KB;
    a record is 0.7 KB now with its strings and empty lists (tests/perf/scale.py rss_mb)."""

    id: str
    name: str
    spec_text: str
    kind: str
    interval_s: float = 30.0
    timeout_s: float = 5.0
    tags: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    owner_id: str | None = None
    parent_id: str | None = None
    failure_threshold: int | None = None
    recovery_threshold: int | None = None
    paused: bool = False
    declared: bool = False
    created_at: float = 0.0
    state: str = "unknown"
    state_since: float = 0.0
    next_due: float = 0.0
    last_check_at: float | None = None
    last_latency_ms: float | None = None
    last_error_class: str | None = None
    fail_streak: int = 0
    ok_streak: int = 0
    flapping: bool = False
    hb_state: str | None = None
    # Probed from each of these locations (empty: by one engine anywhere); down when `quorum`
    # of them (None: a majority) see it down, `partial` when fewer do.
    locations: list[str] = field(default_factory=list)
    quorum: int | None = None
    _spec: TargetSpec | None = field(default=None, repr=False, compare=False)

    @property
    def spec(self) -> TargetSpec:
        if self._spec is None:
            if _parse_stored is None:
                raise RuntimeError("engine.checks.specs is not imported: it parses target specs")
            self._spec = _parse_stored(self.spec_text)
        return self._spec

    def public(self, ping_base: str | None = None) -> dict[str, Any]:
        """The JSON shape for the CLI and the API (only ever sent to an authorised caller)."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "token"}
        d["spec"] = mask_spec(d.pop("spec_text"))  # a password shows as ***
        d["symbol"] = STATE_SYMBOLS.get(self.state, "?")
        if self.kind == "heartbeat" and self.token:
            base = (ping_base or "http://127.0.0.1:8787").rstrip("/")
            d["ping_url"] = f"{base}/ping/{self.token}"
        return d


@dataclass
class ContactRecord:
    id: str
    name: str
    channel: str
    address: str
    level: int = 1
    owner_id: str | None = None
    status: str = "ok"
    status_detail: str | None = None
    resolved: str | None = None

    def public(self, reveal: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d.pop("resolved", None)
        if not reveal:
            d["address"] = mask_address(self.address)
        return d


def mask_address(address: str) -> str:
    return address[:3] + "…" + address[-4:] if len(address) > 10 else "****"


def parse_chat_id(text: str | int) -> int:
    """A Telegram chat id as people type it: digits, negative for groups and channels."""
    s = str(text).strip()
    if not s.lstrip("-").isdigit() or len(s.lstrip("-")) > 20 or s in ("0", "-0"):
        from engine.core.errors import BadInput

        raise BadInput(
            f"{text!r} is not a Telegram chat id",
            "use the numeric id, e.g. 77441265 (ask @userinfobot)",
        )
    return int(s)
