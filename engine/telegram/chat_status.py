"""Replies for the read-side chat commands (/status, /get, /history), short enough for a phone.

They read through the command layer and the engine's live target view, so the chat says what the
console says. Names of targets appear only in replies to authorised contacts, never in logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from engine.core.events import ResultEvent

if TYPE_CHECKING:
    from engine.core.domain import TargetRecord
    from engine.telegram.ports import TelegramHost

MAX_LINES = 25
_MARK = {
    "down": "🔴",
    "partial": "🟠",
    "pending": "🟠",
    "degraded": "🟡",
    "unknown": "⚪",
    "maintenance": "🔧",
}
_OPEN = ("firing", "acknowledged", "silenced")


def utc_hm(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M UTC")


def clip_lines(lines: list[str], limit: int = MAX_LINES) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit} more"]


def _live(host: TelegramHost, rec: TargetRecord) -> TargetRecord:
    return host.targets.get(rec.id, rec)


def _targets_of(host: TelegramHost, owner_id: str | None) -> list[TargetRecord]:
    """The engine's own records (every target is loaded; opening 100,000 sealed names again from
    the store took seconds)."""
    return [t for t in host.snapshot() if owner_id is None or t.owner_id == owner_id]


def status_reply(host: TelegramHost, owner_id: str | None) -> str:
    """Targets that are not up, then open incidents (worker thread: it reads the store)."""
    cmds = host.commands
    targets = _targets_of(host, owner_id)
    states = [(t, host.display_state(t)) for t in targets]
    up = sum(1 for _, s in states if s == "up")
    lines = [f"{up} of {len(targets)} targets up."]
    bad = [(t, s) for t, s in states if s in ("down", "partial", "pending", "degraded")]
    for t, s in sorted(bad, key=lambda x: (x[1] != "down", x[0].name)):
        since = f" since {utc_hm(t.state_since)}" if t.state_since else ""
        why = f" ({t.last_error_class})" if t.last_error_class else ""
        lines.append(f"{_MARK.get(s, '•')} {t.name}: {s}{since}{why}")
    quiet = sum(1 for _, s in states if s in ("maintenance", "paused"))
    if quiet:
        lines.append(f"{quiet} in maintenance or paused.")
    open_incs = [
        i for i in cmds.list_incidents(owner_id=owner_id, limit=200) if i["state"] in _OPEN
    ]
    if open_incs:
        lines.append("Open incidents:")
        for i in open_incs:
            name = i.get("target") or (i.get("summary") or "")[:40]
            lines.append(f"{i['id']} {name}: {i['state']}")
    else:
        lines.append("No open incidents.")
    return "\n".join(clip_lines(lines))


def describe(host: TelegramHost, rec: TargetRecord) -> str:
    t = _live(host, rec)
    state = host.display_state(t)
    parts = [f"{t.name}: {state}"]
    value = host.last_values.get(t.id)
    if t.kind == "system" and value is not None:
        parts.append(f"{value:.0f}%")  # the metric; a psutil call's latency says nothing
    elif t.last_latency_ms is not None and state != "down":
        parts.append(f"{t.last_latency_ms:.0f} ms")
    if t.last_error_class and state != "up":
        parts.append(t.last_error_class)
    if t.last_check_at:
        parts.append(f"checked {utc_hm(t.last_check_at)}")
    return ", ".join(parts)


async def get_reply(host: TelegramHost, target: str, owner_id: str | None) -> str:
    """Check one target now and answer with that check's result (or the state, if it is slow)."""
    cmds = host.commands
    rec = await anyio.to_thread.run_sync(lambda: cmds.target_record(target, owner_id))
    if rec.kind == "heartbeat":  # nothing to probe: pings decide; say when the next is due
        info = await anyio.to_thread.run_sync(lambda: cmds.heartbeat_info(rec.id, owner_id))
        return f"{describe(host, rec)}\n{info['detail']}"
    if rec.paused:
        return describe(host, rec)
    sub = host.events.subscribe(maxlen=1000, types={"result"})
    wait = rec.timeout_s * (host.settings.engine.retries + 1) + 5.0
    try:
        got = await anyio.to_thread.run_sync(lambda: cmds.check_target_now(rec.id, owner_id))
        if got.get("queued") is None:  # no engine holds it now: waiting would tell nothing
            return f"{describe(host, rec)} ({got['detail']})"
        with anyio.move_on_after(wait):
            async for ev in sub:
                if isinstance(ev, ResultEvent) and ev.target_id == rec.id:
                    return describe(host, rec)
    finally:
        sub.close()
    return f"{describe(host, rec)} (no new result within {wait:.0f} s)"


def history_reply(host: TelegramHost, target: str | None, owner_id: str | None) -> str:
    """The last ten events, for one target or all of the caller's (worker thread)."""
    cmds = host.commands
    if target:
        rec = cmds.get_target(target, owner_id)
        entries = cmds.history(target=rec.id, limit=10)
        title = f"Recent events for {rec.name}:"
    else:
        entries = cmds.history(limit=200)
        if owner_id is not None:
            own = {t.name for t in cmds.list_targets(owner_id)}
            # Their targets' events and their incidents' (a benchmark may share a target's name).
            entries = [
                e
                for e in entries
                if e.get("target") in own
                and str(e.get("ref") or "").startswith(("target:", "incident:"))
            ]
        entries = entries[:10]
        title = "Recent events:"
    if not entries:
        return "No events yet." if not target else f"No events yet for {target}."
    lines = [title]
    for e in entries:
        what = e.get("target") or e.get("ref") or ""
        lines.append(f"{utc_hm(e['ts'])} {e['action']} {what}".rstrip())
    return "\n".join(lines)
