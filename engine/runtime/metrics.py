"""Counters the engine keeps for /metrics and the status bar: plain numbers, no locks on the hot path.

Labels never carry a sealed value: targets appear only by kind, outcome or short reference.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, v)] += 1
        self.total += v
        self.n += 1

    def cumulative(self) -> list[tuple[str, int]]:
        out, acc = [], 0
        for b, c in zip(self.buckets, self.counts, strict=False):
            acc += c
            out.append((repr(float(b)), acc))
        out.append(("+Inf", acc + self.counts[-1]))
        return out


@dataclass
class EngineMetrics:
    probes_ok: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    probes_fail: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[str, Histogram] = field(default_factory=dict)
    notifications: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    pings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_error: str = ""
    # The contact a delivery error is about: a later send to it that works, or its removal,
    # clears the error (the status bar stops showing a problem that is gone).
    last_error_contact: str | None = None

    @property
    def probes(self) -> dict[tuple[str, str], int]:
        """Checks by (kind, outcome), for the exposition."""
        out = {(k, "ok"): n for k, n in self.probes_ok.items()}
        out.update({(k, "fail"): n for k, n in self.probes_fail.items()})
        return out

    def observe_probe(self, kind: str, ok: bool, latency_ms: float | None) -> None:
        (self.probes_ok if ok else self.probes_fail)[kind] += 1
        if latency_ms is not None:
            h = self.latency.get(kind)
            if h is None:
                h = self.latency[kind] = Histogram(LATENCY_BUCKETS_MS)
            h.observe(latency_ms)
