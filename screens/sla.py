"""The SLA line of a target's detail: uptime, downtime, incidents, MTTA and MTTR over the last
30 and 90 days (the command layer's `sla_report`; maintenance left out)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

PERIODS = (30, 90)


def fetch(screen: Any, target_id: str) -> dict[int, dict[str, Any] | None]:
    """For a thread job: each period's figures for the target, None where not available."""
    out: dict[int, dict[str, Any] | None] = {}
    for n in PERIODS:
        rep = screen.optional("sla_report", target=target_id, days=n, now=screen.ctx.clock())
        rows = (rep or {}).get("targets") or []
        out[n] = rows[0] if rows else None
    return out


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h" if s < 172800 else f"{s / 86400:.1f}d"


def line(figures: dict[int, dict[str, Any] | None]) -> Text:
    text = Text(" SLA")
    for n, f in figures.items():
        text.append(f"  {n}d: ", style="bold")
        if f is None:
            text.append("-")
            continue
        up = f.get("uptime_pct")
        text.append("no checks" if up is None else f"{up:.3f}%")
        text.append(
            f" · down {_dur(f.get('downtime_s'))} · {f.get('incidents', 0)} incidents"
            f" · MTTA {_dur(f.get('mtta_s'))} · MTTR {_dur(f.get('mttr_s'))}"
        )
        if f.get("maintenance_s"):
            text.append(f" · maintenance {_dur(f['maintenance_s'])} (left out)")
    return text
