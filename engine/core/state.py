"""Per-target state machine: N failures to go down, M successes to come back, flapping detection."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.domain import TargetRecord
from engine.core.probe import ProbeResult


@dataclass(slots=True)
class Transition:
    old: str
    new: str
    flapping_changed: bool = False


class FlapTracker:
    """Share of state changes among the last `window` checks (Icinga-style, unweighted).

    The last `window` outcomes are the bits of one int: a flip count is a popcount of
    `bits ^ (bits >> 1)`. This runs on every result, so it is kept to a few integer operations.
    """

    __slots__ = ("window", "threshold", "bits", "count", "_mask")

    def __init__(self, window: int, threshold: float) -> None:
        self.window = window
        self.threshold = threshold
        self.bits = 0
        self.count = 0
        self._mask = (1 << window) - 1

    def add(self, ok: bool) -> None:
        self.bits = ((self.bits << 1) | ok) & self._mask
        if self.count < self.window:
            self.count += 1

    def ratio(self) -> float:
        n = self.count
        if n < 4:
            return 0.0
        pairs = (1 << (n - 1)) - 1
        return ((self.bits ^ (self.bits >> 1)) & pairs).bit_count() / (n - 1)

    def is_flapping(self, currently: bool) -> bool:
        # Hysteresis: start above the threshold, stop below 60% of it, like Icinga's high/low.
        r = self.ratio()
        return r >= self.threshold * 0.6 if currently else r > self.threshold


def apply_result(
    rec: TargetRecord,
    res: ProbeResult,
    now: float,
    fail_n: int,
    ok_m: int,
    flap: FlapTracker | None,
) -> Transition | None:
    """Update streaks and state from one result; return the transition if the state changed."""
    rec.last_check_at = now
    rec.last_latency_ms = res.latency_ms
    rec.last_error_class = res.error_class
    old = rec.state
    if res.ok:
        rec.ok_streak += 1
        rec.fail_streak = 0
        if old == "down" and rec.ok_streak < ok_m:
            new = old  # only a real outage waits for M successes (a degraded one counts too)
        else:
            new = "degraded" if res.degraded else "up"
    else:
        rec.fail_streak += 1
        rec.ok_streak = 0
        new = "down" if rec.fail_streak >= fail_n else ("pending" if old != "down" else "down")
    flap_changed = False
    if flap is not None:
        flap.add(res.ok)
        now_flapping = flap.is_flapping(rec.flapping)
        if now_flapping != rec.flapping:
            rec.flapping = now_flapping
            flap_changed = True
    if new != old:
        rec.state = new
        rec.state_since = now
        return Transition(old, new, flap_changed)
    if flap_changed:
        return Transition(old, old, True)
    return None
