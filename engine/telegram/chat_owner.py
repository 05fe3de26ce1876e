"""Replies for what subscribers and admins do from the chat: add and remove their own targets and
benchmarks, run a benchmark, see their quota, and (admins) manage subscribers and read /stats.

Every action goes through the one command layer with the caller's owner_id, so a subscriber sees
and changes only what they own, and a quota refusal stores nothing. The sync functions run in a
worker thread (they read and write the store); names appear only in replies to their owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from engine.benchmarks.scoring import BASELINE_RUNS, fmt
from engine.core.errors import NotFound, QuotaExceeded
from engine.security.privacy import mask_id
from engine.telegram.chat_commands import ChatCommand
from engine.telegram.chat_roles import Caller

if TYPE_CHECKING:
    from engine.commands import Commands

_REMOVE_CMD = {"targets": "/rmtarget", "benchmarks": "/rmbench"}
MAX_NAMES = 10


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _limit(q: dict[str, Any]) -> str:
    return "unlimited" if q["limit"] is None else str(q["limit"])


def _use_line(cmds: Commands, owner_id: str | None) -> str:
    q = cmds.quota_use(owner_id)
    t, b = q["targets"], q["benchmarks"]
    return (
        f"Targets: {t['used']} of {_limit(t)}; benchmarks: {b['used']} of {_limit(b)}."
        if owner_id is not None
        else "No quota: you act as the operator."
    )


def over_quota(cmds: Commands, exc: QuotaExceeded, owner_id: str | None) -> str:
    """Which limit, the use, and what to remove, in chat terms (the exception's hint is CLI)."""
    q = getattr(exc, "quota", None)
    kind = q.kind if q is not None else "targets"
    lines = [sentence(exc.message)]
    if q is not None and q.limit == 0:
        lines.append(f"Your account may not add {kind}; ask an admin to raise the limit.")
        return "\n".join(lines)
    if kind == "targets":
        names = [t.name for t in cmds.list_targets(owner_id)]
    else:
        names = [b["name"] for b in cmds.list_benchmarks(owner_id)]
    shown = ", ".join(names[:MAX_NAMES]) + (" …" if len(names) > MAX_NAMES else "")
    lines.append(
        f"Remove one first with {_REMOVE_CMD[kind]} <name> (yours: {shown}), "
        "or ask an admin to raise the limit."
    )
    return "\n".join(lines)


# ---- targets and benchmarks ------------------------------------------------------------------
def add_target(cmds: Commands, who: Caller, cmd: ChatCommand) -> str:
    assert cmd.spec is not None
    try:
        rec = cmds.add_target(cmd.spec.raw, name=cmd.label, owner_id=who.owner_id, by=who.actor)
    except QuotaExceeded as exc:
        return over_quota(cmds, exc, who.owner_id)
    if rec.kind == "heartbeat":
        beat = cmds.heartbeat_info(rec.id, owner_id=who.owner_id)
        lines = [f"Added {rec.name} (heartbeat), expects a ping {beat['expects']}."]
        lines.append(f"Ping URL: {beat['ping_url']}")
        if not beat["listening"]:
            lines.append(
                "Note: this SysAlert takes no pings over the network yet; "
                "its admin turns that on with [api] listen."
            )
    else:
        lines = [f"Added {rec.name} ({rec.kind}), checked every {rec.interval_s:g} s."]
    lines.append(_use_line(cmds, who.owner_id))
    return "\n".join(lines)


def remove_target(cmds: Commands, who: Caller, cmd: ChatCommand) -> str:
    rec = cmds.remove_target(cmd.target or "", owner_id=who.owner_id, by=who.actor)
    return f"Removed {rec.name}; its history is gone with it.\n{_use_line(cmds, who.owner_id)}"


def add_benchmark(cmds: Commands, who: Caller, cmd: ChatCommand) -> str:
    spec = "cpu" if cmd.bench == "cpu" or cmd.spec is None else cmd.spec.raw
    try:
        out = cmds.add_benchmark(spec, owner_id=who.owner_id, by=who.actor)
    except QuotaExceeded as exc:
        return over_quota(cmds, exc, who.owner_id)
    return (
        f"Added benchmark {out['name']} ({out['kind']}, every {out['interval_s']:g} s). "
        f"Its baseline is the median of its first {BASELINE_RUNS} runs; "
        f"/get {out['name']} runs it now.\n{_use_line(cmds, who.owner_id)}"
    )


def remove_benchmark(cmds: Commands, who: Caller, cmd: ChatCommand) -> str:
    out = cmds.remove_benchmark(cmd.target or "", owner_id=who.owner_id, by=who.actor)
    return f"Removed benchmark {out['removed']}.\n{_use_line(cmds, who.owner_id)}"


def find_benchmark(cmds: Commands, ref: str, owner_id: str | None) -> str:
    """The benchmark `/get ref` means: by id or name, and `cpu` also finds a cpu-kind one."""
    try:
        return cmds.get_benchmark(ref, owner_id).id
    except NotFound:
        if ref.lower() != "cpu":
            raise
    cpu = [b for b in cmds.list_benchmarks(owner_id) if b["kind"] == "cpu"]
    if not cpu:
        raise NotFound("you have no cpu benchmark yet; /setbench cpu adds one", None) from None
    return str(cpu[0]["id"])


def describe_run(out: dict[str, Any]) -> str:
    """One run against its baseline: `cpu: 38044 ops/s, baseline 37100 ops/s (+2.5%), ok.`"""
    name, unit = out["name"], out.get("unit") or ""
    if not out.get("ok"):
        return f"{name}: failed ({out.get('error_class') or 'error'})."
    score = fmt(out.get("score"), unit)
    base = out.get("baseline")
    if base is None:
        return f"{name}: {score}; no baseline yet (the median of the first {BASELINE_RUNS} runs)."
    delta = out.get("delta_pct")
    change = f" ({delta:+.1f}%)" if delta is not None else ""
    text = f"{name}: {score}, baseline {fmt(base, unit)}{change}, {out.get('status')}."
    if out.get("baseline_set"):
        text += f" Baseline set from the first {BASELINE_RUNS} runs."
    return text


async def run_benchmark(cmds: Commands, ref: str, owner_id: str | None) -> str:
    bench_id = await anyio.to_thread.run_sync(find_benchmark, cmds, ref, owner_id)
    return describe_run(await cmds.run_benchmark(bench_id, owner_id))


# ---- who am I, stats ------------------------------------------------------------------------------
def whoami(cmds: Commands, who: Caller) -> str:
    if who.subscriber is None:  # a config admin without a Subscriber row
        return (
            f"You are {who.masked}, role admin (from the config): you act as the operator, "
            "with no quota."
        )
    return (
        f"You are {who.masked}, role {who.role}.\n{_use_line(cmds, who.owner_id)}\n"
        "Alerts about your targets and benchmarks come to this chat."
    )


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def stats(cmds: Commands) -> str:
    s = cmds.subscriber_stats()
    return "\n".join(
        [
            f"Subscribers: {s['subscribers']} ({s['admins']} admin).",
            f"Targets: {s['targets']} ({s['subscriber_targets']} of subscribers); "
            f"benchmarks: {s['benchmarks']}.",
            f"Open incidents: {s['open_incidents']}.",
            f"Probe rate: {s['probe_rate']:g}/s.",
            f"Last {s['window_days']:g} days: {s['notifications_sent']} notifications sent, "
            f"{s['notifications_failed']} failed; delivery {_pct(s['delivery_rate'])}, "
            f"read {_pct(s['read_rate'])} (Telegram).",
        ]
    )


# ---- admin: subscribers ---------------------------------------------------------------------------
def add_subscriber(cmds: Commands, who: Caller, chat_id: int | None) -> str:
    rec = cmds.add_subscriber("" if chat_id is None else chat_id, by=who.actor)
    return f"Added subscriber {rec['chat']}. They can send /start to this account now."


async def remove_subscriber(cmds: Commands, who: Caller, chat_id: int) -> str:
    res = await cmds.erase_subscriber(chat_id, by=who.actor)
    erased = res["erased"]
    return (
        f"Removed subscriber {res['removed']} and everything they owned "
        f"({erased.get('targets', 0)} targets, {erased.get('benchmarks', 0)} benchmarks)."
    )


def stranger_welcome(chat_id: int, told: bool) -> str:
    """For a stranger's /start: how to ask for access (their own chat id is theirs to see)."""
    asked = " (the admins have been told you asked)" if told else ""
    return (
        "Hello. This account sends SysAlert monitoring alerts to its subscribers.\n"
        f"To use it, ask the operator or an admin of this SysAlert to add your chat id "
        f"{chat_id}{asked}. Until then this account does not answer your messages."
    )


def admin_notice(chat_id: int) -> str:
    return (
        f"Access request: Telegram user {mask_id(chat_id)} sent /start.\n"
        f"To let them in: /addsub {chat_id}"
    )
