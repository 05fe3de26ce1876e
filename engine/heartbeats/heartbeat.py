"""Heartbeat (push) checks with Healthchecks' semantics, as pure functions of `now`.

Mirrors healthchecks/hc/api/models.py (Check.ping, get_grace_start, going_down_after, get_status)
so existing cron wrappers behave the same:

- never pinged is "unknown" (Healthchecks' "new") and never goes down by itself;
- a success ping makes it "up"; the next ping is expected `every` after it (or at the next cron
  tick after it, in the configured tz); past that it is "pending" (Healthchecks' "grace"); past the
  grace it is "down", and down is sticky until a success ping;
- /fail and a non-zero exit status make it "down" at once; exit status 0 is a success;
- /start marks a run: "started" until a success or failure ends it, "down" if none arrives within
  the grace (a start never postpones a deadline that was already set); the run time is reported on
  the ping that ends it (dropped beyond 72 h, as Healthchecks does);
- /log is recorded (counted) and changes nothing else.

schedule=business: the heartbeat may only *go down* during business hours (Mon-Fri 09:00-17:00 in
tz). A deadline that passes outside them moves to the start of the next business period; until then
a late heartbeat reads "pending". Expected times themselves are unchanged.

Deviation, on purpose: Healthchecks shows "started" for a down check that gets a /start; we keep
"down" (verdict.running says a run is in progress) so a retry never resolves an incident.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine.checks.specs import TargetSpec
from engine.core.durations import format_duration
from engine.core.errors import BadInput
from engine.timing.schedules import (
    business_hours,
    check_cron,
    cron_next,
    is_active,
    next_change,
    utc,
    zone,
)

PING_KINDS = ("success", "start", "fail", "log", "exit")
DEFAULT_EVERY_S = 86400.0  # Healthchecks' DEFAULT_TIMEOUT
DEFAULT_GRACE_S = 3600.0  # Healthchecks' DEFAULT_GRACE
MAX_DURATION_S = 72 * 3600.0  # start/success further apart than this are not one run
_PING_PATH = re.compile(r"^/?ping/(?P<token>[A-Za-z0-9_-]{8,128})(?:/(?P<suffix>[^/]+))?/?$")


@dataclass(frozen=True)
class HeartbeatConfig:
    """When pings are expected. With `cron` set, `every_s` is ignored (Healthchecks' kind=cron)."""

    every_s: float | None = DEFAULT_EVERY_S
    grace_s: float = DEFAULT_GRACE_S
    cron: str | None = None
    tz: str = "UTC"
    schedule: str = "always"

    def __post_init__(self) -> None:
        zone(self.tz)
        if self.cron is not None:
            object.__setattr__(self, "cron", check_cron(self.cron))
        elif not self.every_s or self.every_s <= 0:
            raise BadInput("a heartbeat needs a period", "e.g. every=5m, or cron=0 3 * * *")
        if self.grace_s < 0:
            raise BadInput("grace must not be negative", "e.g. grace=5m")
        if self.schedule not in ("always", "business"):
            raise BadInput(
                f"schedule {self.schedule!r} is unknown", "use schedule=always or schedule=business"
            )

    @classmethod
    def from_spec(cls, spec: TargetSpec) -> HeartbeatConfig:
        """From a heartbeat:// TargetSpec (params every, grace, cron, tz, schedule)."""
        cron = spec.params.get("cron") or None
        every = spec.param_duration("every", None if cron else DEFAULT_EVERY_S)
        return cls(
            every_s=every,
            grace_s=spec.param_duration("grace", DEFAULT_GRACE_S),
            cron=cron,
            tz=spec.params.get("tz") or "UTC",
            schedule=spec.params.get("schedule") or "always",
        )

    def short(self) -> str:
        """For a table column: '1m+30s', 'cron+1h'."""
        return f"{'cron' if self.cron else format_duration(self.every_s or 0)}+" + format_duration(
            self.grace_s
        )

    def describe(self) -> str:
        """'every 1h with 5m grace' or 'cron 0 3 * * * (Europe/Berlin) with 1h grace'."""
        when = (
            f"cron {self.cron} ({self.tz})"
            if self.cron
            else f"every {format_duration(self.every_s or 0)}"
        )
        text = f"{when} with {format_duration(self.grace_s)} grace"
        return text + (
            f", down only Mon-Fri 09:00-17:00 {self.tz}" if self.schedule == "business" else ""
        )


@dataclass(frozen=True)
class HeartbeatState:
    """What the engine stores per heartbeat. `status` is the stored one: unknown, up or down."""

    status: str = "unknown"
    last_ping_at: datetime | None = None  # last success or failure
    last_start_at: datetime | None = None  # a /start not yet ended by a success or failure
    last_kind: str | None = None  # success or fail: what the last run reported (exit -> outcome)
    last_exit_status: int | None = None
    last_duration_s: float | None = None
    last_event_at: datetime | None = None  # any ping, /log included
    down_since: datetime | None = None
    n_pings: int = 0

    @property
    def started(self) -> bool:
        """A run is in progress (a /start with no success or failure yet)."""
        return self.last_start_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; datetimes as ISO 8601 with offset."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeartbeatState:
        """Reads what to_dict wrote; missing keys take defaults, unknown keys are ignored."""
        known = cls.__dataclass_fields__
        vals: dict[str, Any] = {}
        for k, v in d.items():
            if k not in known:
                continue
            if k.endswith("_at") or k == "down_since":
                v = utc(datetime.fromisoformat(v)) if v else None
            vals[k] = v
        return cls(**vals)


@dataclass(frozen=True)
class PingOutcome:
    """What a ping did: the kind it counted as, the stored status before/after, the run time."""

    kind: str
    old_status: str
    new_status: str
    duration_s: float | None = None
    exit_status: int | None = None

    @property
    def changed(self) -> bool:
        return self.old_status != self.new_status


@dataclass(frozen=True)
class HeartbeatVerdict:
    """The status at `now`, when it would next change on its own, and a sentence why."""

    status: str  # unknown, up, pending, started, down
    next_deadline: datetime | None
    detail: str
    expected_at: datetime | None = None  # Healthchecks' next_ping: when the grace starts
    down_at: datetime | None = None  # Healthchecks' alert_after: when it goes down without a ping
    running: bool = False


def apply_ping(
    cfg: HeartbeatConfig,
    state: HeartbeatState,
    kind: str,
    now: datetime,
    exit_status: int | None = None,
) -> tuple[HeartbeatState, PingOutcome]:
    """Fold one ping into the state (Healthchecks' Check.ping); BadInput for a bad exit status."""
    now = utc(now)
    if kind not in PING_KINDS:
        raise BadInput(f"ping kind {kind!r} is unknown", f"use one of {', '.join(PING_KINDS)}")
    if kind == "exit":
        if (
            isinstance(exit_status, bool)
            or not isinstance(exit_status, int)
            or not 0 <= exit_status <= 255
        ):
            raise BadInput("exit status must be 0-255", "send the command's $? e.g. /ping/TOKEN/0")
        kind = "success" if exit_status == 0 else "fail"
    elif exit_status is not None:
        raise ValueError("exit_status goes with kind='exit' only")
    if kind == "log":
        counted = replace(state, n_pings=state.n_pings + 1, last_event_at=now)
        return counted, PingOutcome("log", state.status, state.status)
    if kind == "start":
        new = replace(state, n_pings=state.n_pings + 1, last_event_at=now, last_start_at=now)
        return new, PingOutcome("start", state.status, state.status)
    duration = None
    if state.last_start_at is not None:
        run = (now - state.last_start_at).total_seconds()
        duration = run if 0 <= run < MAX_DURATION_S else None
    status = "down" if kind == "fail" else "up"
    down_since = None
    if status == "down":
        down_since = state.down_since if state.status == "down" else now
    # Built directly rather than with a second replace(): this runs for every ping.
    new = HeartbeatState(
        status=status,
        last_ping_at=now,
        last_start_at=None,
        last_kind=kind,
        last_exit_status=exit_status,
        last_duration_s=duration,
        last_event_at=now,
        down_since=down_since,
        n_pings=state.n_pings + 1,
    )
    return new, PingOutcome(kind, state.status, status, duration, exit_status)


def _when_down_counts(cfg: HeartbeatConfig, t: datetime) -> datetime:
    """Outside business hours (schedule=business) a deadline waits for the next business period."""
    if cfg.schedule != "business":
        return t
    hours = business_hours(cfg.tz)
    if is_active(hours, t):
        return t
    return next_change(hours, t) or t


def expected_at(cfg: HeartbeatConfig, state: HeartbeatState) -> datetime | None:
    """When the next ping is due (the grace starts then); None until the first ping."""
    if state.last_ping_at is None or state.status != "up":
        return None
    if cfg.cron:
        return cron_next(cfg.cron, state.last_ping_at, cfg.tz)
    return state.last_ping_at + timedelta(seconds=cfg.every_s or 0)


def _ago(now: datetime, t: datetime) -> str:
    return f"{format_duration((now - t).total_seconds())} ago"


def evaluate(cfg: HeartbeatConfig, state: HeartbeatState, now: datetime) -> HeartbeatVerdict:
    """The status at `now` (Healthchecks' get_status(with_started=True) plus sticky down)."""
    now = utc(now)
    grace = timedelta(seconds=cfg.grace_s)
    running = state.last_start_at is not None
    last = f"last ping {_ago(now, state.last_ping_at)}" if state.last_ping_at else "never pinged"
    run = f"run started {_ago(now, state.last_start_at)}" if state.last_start_at else ""
    if state.status == "down":
        since = f", down since {_ago(now, state.down_since)}" if state.down_since else ""
        why = "last ping was a failure" if state.last_kind == "fail" else "missed its deadline"
        extra = f"; {run}" if running else ""
        return HeartbeatVerdict("down", None, f"{why}{since}{extra}; {last}", running=running)
    due = expected_at(cfg, state)
    period_down = _when_down_counts(cfg, due + grace) if due is not None else None
    run_down = _when_down_counts(cfg, state.last_start_at + grace) if state.last_start_at else None
    down_at = min((t for t in (period_down, run_down) if t is not None), default=None)
    expect = f"expected {cfg.describe()}"
    if down_at is not None and now >= down_at:
        why = "run did not end within the grace" if down_at == run_down else "no ping in time"
        return HeartbeatVerdict("down", None, f"{why}; {last}, {expect}", due, down_at, running)
    if running:
        detail = f"{run}, must end within {format_duration(cfg.grace_s)}; {last}"
        return HeartbeatVerdict("started", down_at, detail, due, down_at, True)
    if due is None:
        first = "it goes down only after its first ping"
        return HeartbeatVerdict("unknown", None, f"never pinged, {expect}; {first}")
    if now >= due:
        return HeartbeatVerdict("pending", down_at, f"late: {last}, {expect}", due, down_at)
    return HeartbeatVerdict("up", due, f"{last}, {expect}", due, down_at)


def settle(cfg: HeartbeatConfig, state: HeartbeatState, now: datetime) -> HeartbeatState:
    """Record a down the clock caused (Healthchecks' sendalerts flip) so it stays down when stored."""
    verdict = evaluate(cfg, state, now)
    if verdict.status == "down" and state.status != "down":
        return replace(state, status="down", down_since=verdict.down_at or utc(now))
    return state


def parse_ping_path(path: str) -> tuple[str, str, int | None] | None:
    """Split '/ping/<token>[/start|/fail|/log|/<exit status>]' into (token, kind, exit status).

    Returns None for any other shape, `-1` included (the HTTP layer answers 404, as Healthchecks'
    routes do). An exit status above 255 parses: the ping is refused with 400 only once the token
    is known (`apply_ping`), so an unknown token is 404 whatever follows it. A query string is
    ignored.
    """
    m = _PING_PATH.match((path or "").split("?", 1)[0])
    if not m:
        return None
    token, suffix = m["token"], m["suffix"]
    if suffix is None:
        return token, "success", None
    if suffix in ("start", "fail", "log"):
        return token, suffix, None
    if suffix.isascii() and suffix.isdigit():
        return token, "exit", int(suffix) if len(suffix) <= 12 else 256  # no huge-int parsing
    return None


def new_token() -> str:
    """A url-safe ping token: 32 characters carrying 192 bits of randomness."""
    return secrets.token_urlsafe(24)


def _ts(t: datetime | None) -> float | None:
    return t.timestamp() if t is not None else None


def summary(cfg: HeartbeatConfig, state: HeartbeatState, now: datetime) -> dict[str, Any]:
    """What a heartbeat expects and has seen, as plain JSON (epoch seconds): the console's
    detail, `target show` and the API read this instead of a probe interval, which means
    nothing for a push check."""
    verdict = evaluate(cfg, state, now)
    return {
        "expects": cfg.describe(),
        "status": verdict.status,
        "detail": verdict.detail,
        "last_ping_at": _ts(state.last_ping_at),
        "last_kind": state.last_kind,
        "last_exit_status": state.last_exit_status,
        "last_duration_s": state.last_duration_s,
        "running_since": _ts(state.last_start_at),
        "expected_at": _ts(verdict.expected_at),
        "down_at": _ts(verdict.down_at),
        "pings": state.n_pings,
    }


def no_listener_hint(name: str, listener: str | None, proxied: bool = False) -> str | None:
    """What to tell someone holding a ping URL that may answer nowhere: without a TCP listener
    the engine serves only its Unix socket; on a loopback one (and no proxy in front, `proxied`
    by [api] public_url), only this host reaches it."""
    here = f"`sysalert ping {shlex.quote(name)}`"
    if listener is None:
        return (
            f"nothing listens on TCP for pings yet: on this machine {here} reaches the engine;"
            " for other hosts run `sysalert --daemon --listen 0.0.0.0:8787` (or set [api] listen)"
        )
    host = listener.rpartition(":")[0].strip("[]")
    if not proxied and host in ("127.0.0.1", "::1", "localhost") or host.startswith("127."):
        return (
            f"pings are taken on {listener}, which only this machine reaches; other hosts need"
            " a listener on a reachable address (--listen 0.0.0.0:8787) or a proxy ([api] public_url)"
        )
    return None
