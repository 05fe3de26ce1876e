"""Plain-text tables and JSON for the CLI: scripts read JSON, people read columns."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_jsonable_python


def print_json(data: Any) -> None:
    # A command's typed result prints as model_dump(mode="json"), the same embedded and attached.
    json.dump(to_jsonable_python(data, fallback=str), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "(none)"
) -> None:
    if not rows:
        print(empty)
        return
    cells = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    from engine.core.durations import format_duration

    # Whole seconds: "462ms ago" reads as a latency beside a latency column.
    delta = round((now or time.time()) - ts)
    return "just now" if delta < 1 else format_duration(delta) + " ago"


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}ms" if v >= 10 else f"{v:.1f}ms"
