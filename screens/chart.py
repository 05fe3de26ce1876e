"""A latency and availability chart drawn with block characters, for any terminal and 16 colours.

Latency (or, for a system metric, its value) is a bar chart (eighth blocks); under it, one
availability mark per column: █ all checks ok, ▒ some failed, ✖ all failed, · no data, so the
chart reads without colour too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from screens.fmt import ms

EIGHTHS = " ▁▂▃▄▅▆▇█"
AXIS = 8


def availability_mark(avail: float | None) -> tuple[str, str]:
    if avail is None:
        return "·", "bright_black"
    if avail >= 0.9999:
        return "█", "green"
    if avail <= 0.0:
        return "✖", "bold red"
    return "▒", "yellow"


class LatencyChart(Widget):
    DEFAULT_CSS = "LatencyChart { height: 8; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[dict[str, Any]] = []
        self.label = "1h"
        self.metric = "latency_ms"
        self.fmt: Callable[[float], str] = ms

    def show(
        self,
        series: list[dict[str, Any]],
        label: str,
        metric: str = "latency_ms",
        fmt: Callable[[float], str] = ms,
    ) -> None:
        """Plot `metric` of each bucket ("latency_ms", or "value" for a system metric)."""
        self.series, self.label, self.metric, self.fmt = series, label, metric, fmt
        self.refresh()

    def render(self) -> Text:
        width = max(10, self.size.width - AXIS)
        bars = max(1, self.size.height - 2)
        n = len(self.series)
        if n == 0:
            return Text("  no data in this range yet", style="italic bright_black")
        cols = [self.series[min(n - 1, c * n // width)] for c in range(width)]
        lats = [b.get(self.metric) for b in cols]
        top = max([v for v in lats if v is not None] or [0.0])
        lines = []
        for r in range(bars):
            label = self.fmt(top) if r == 0 and top else ("0" if r == bars - 1 else "")
            line = Text(f"{label:>{AXIS - 1}} ", style="bright_black")
            floor = (bars - 1 - r) * 8
            for v in lats:
                level = 0 if v is None or top <= 0 else round(v / top * bars * 8)
                line.append(EIGHTHS[max(0, min(8, level - floor))], style="cyan")
            lines.append(line)
        avail = Text(f"{'ok':>{AXIS - 1}} ", style="bright_black")
        for b in cols:
            mark, style = availability_mark(b.get("availability"))
            avail.append(mark, style=style)
        lines.append(avail)
        axis = Text(" " * AXIS + f"-{self.label}", style="bright_black")
        axis.append(" " * max(1, width - len(self.label) - 4) + "now", style="bright_black")
        lines.append(axis)
        return Text("\n").join(lines)
