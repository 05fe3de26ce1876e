"""How a target reads in the terminal: `target show`, the LATENCY column of `target list` and
the line `check` prints. A system target shows its percent and a TLS target its days left where
other kinds show latency, as the console does (screens.fmt decides which)."""

from __future__ import annotations

import time
from typing import Any

from engine.core.durations import format_duration
from screens.fmt import metric_of, value_text
from sysalert_tui.output import ago, ms


def latest_result(cmds: Any, r: dict[str, Any]) -> dict[str, Any] | None:
    """A target's newest stored result (value and opened error detail), None before any."""
    if not r.get("last_check_at"):
        return None
    found = cmds.target_results(r["id"], limit=1)
    return found[0] if found else None


def measured(r: dict[str, Any], latest: dict[str, Any] | None) -> str:
    """What the LATENCY column shows: a system target's percent and a TLS target's days left
    (the time a psutil call took says nothing), as the console does; other kinds' latency."""
    if metric_of(r["kind"]) == "value":
        return value_text(r["kind"])(latest.get("value") if latest else None).replace("—", "-")
    return ms(r["last_latency_ms"])


def show_lines(r: dict[str, Any], latest: dict[str, Any] | None) -> list[str]:
    """`target show` as `key: value` lines: a probe's last check, latency (or percent) and error
    with its opened detail; a heartbeat's schedule, next ping and down time instead."""
    beat = r.get("heartbeat")
    if beat is not None:  # a push check: no interval or latency of ours, its schedule instead
        r = {k: v for k, v in r.items() if k not in ("interval_s", "timeout_s")}
        r["expects"] = f"a ping {beat['expects']}"
        r["heartbeat"] = beat["detail"]
        r.update(_deadlines(beat, r["state"]))
        r["ping_url"] = beat["ping_url"]
        r["note"] = beat["hint"]
    else:
        r["interval"] = f"{r['interval_s']:g}s"
        r["timeout"] = f"{r['timeout_s']:g}s"
        r["last_check"] = ago(r["last_check_at"]) if r["last_check_at"] else None
        r["last_" + ("value" if metric_of(r["kind"]) == "value" else "latency")] = (
            measured(r, latest) if r["last_check_at"] else None
        )
        if r["last_error_class"]:  # the class alone ("error") says little: its sealed detail
            detail = (latest or {}).get("detail") or ""
            r["last_error"] = f"{r['last_error_class']}: {detail}" if detail else None
    out: list[str] = []
    for k in (
        "id",
        "name",
        "kind",
        "spec",
        "state",
        "interval",
        "timeout",
        "tags",
        "conditions",
        "last_check",
        "last_latency",
        "last_value",
        "last_error",
        "last_error_class",
        "expects",
        "heartbeat",
        "next ping due",
        "goes down",
        "ping_url",
        "note",
    ):
        if k == "last_error_class" and r.get("last_error"):
            continue
        if r.get(k) not in (None, [], ""):
            out.append(f"{k:>16}: {r[k]}")
    return out


def _deadlines(beat: dict[str, Any], state: str) -> dict[str, str]:
    """When the next ping is due and when the heartbeat goes down without one: the times
    heartbeat_info gives the console and the API, in local time."""
    out: dict[str, str] = {}
    if beat.get("expected_at") and state not in ("down", "paused", "maintenance"):
        out["next ping due"] = _at(beat["expected_at"])
        if beat.get("down_at"):
            out["goes down"] = f"after {_at(beat['down_at'])} without one"
    return out


def _at(ts: float) -> str:
    """A local time with how far off it is: 2026-12-06 17:31:02 (in 59m)."""
    delta = ts - time.time()
    rel = f"in {format_duration(delta)}" if delta >= 0 else f"{format_duration(-delta)} ago"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))} ({rel})"


def check_line(kind: str, res: Any) -> str:
    """`ok 0.4ms`, `ok 12%`, `FAILED (refused) 0.3ms: connection refused`. The value is shown once,
    in the kind's words, and only where it is not the latency again (http and tcp give their
    latency as their value); a system check's psutil call time is no latency worth printing."""
    status = "ok" if res.ok else f"FAILED ({res.error_class})"
    if metric_of(kind) == "value":
        text = value_text(kind)(res.value) if res.value is not None else ""
    else:
        text = ms(res.latency_ms)
        if res.ok and res.value is not None and res.value != res.latency_ms:
            text += f", value {res.value:g}"
    line = f"{status} {text}".rstrip()
    return line + (f": {res.detail}" if res.detail and not res.ok else "")
