"""A score against its baseline: the delta in percent and whether it is a regression.

Direction matters: a CPU score falls when things get worse, a latency rises. Kept apart from the
runner so the command layer, the console and the rules judge a score the same way.
"""

from __future__ import annotations

import statistics

BASELINE_RUNS = 3  # the baseline is the median of the first successful runs


def delta_pct(score: float | None, baseline: float | None) -> float | None:
    """(score - baseline) / |baseline| in percent; None when either is missing or baseline is 0."""
    if score is None or baseline is None or baseline == 0:
        return None
    return (score - baseline) / abs(baseline) * 100.0


def is_regressed(
    score: float | None, baseline: float | None, threshold_pct: float, higher_is_better: bool
) -> bool:
    """Worse than the baseline by more than the threshold, in the direction that counts."""
    d = delta_pct(score, baseline)
    if d is None:
        return False
    return d < -threshold_pct if higher_is_better else d > threshold_pct


def status(
    ok: bool | None,
    score: float | None,
    baseline: float | None,
    threshold_pct: float,
    higher_is_better: bool,
) -> str:
    """`failed` (last run failed), `pending` (no baseline or no score yet), `regressed` or `ok`."""
    if ok is False:
        return "failed"
    if score is None or baseline is None:
        return "pending"
    return "regressed" if is_regressed(score, baseline, threshold_pct, higher_is_better) else "ok"


def baseline_from(scores: list[float]) -> float | None:
    """The median of the first BASELINE_RUNS scores, once there are that many."""
    if len(scores) < BASELINE_RUNS:
        return None
    return float(statistics.median(scores[:BASELINE_RUNS]))


def fmt(value: float | None, unit: str = "") -> str:
    """A score for people: 38044 ops/s, 12.35 ms, 0.0123 (no exponent for big numbers)."""
    if value is None:
        return "-"
    text = f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"{text} {unit}".strip()
