"""CLI: history, the audit-backed event log the console's screen 3 and Telegram's /history show."""

from __future__ import annotations

import argparse
import time
from typing import Any

from engine.core.history_kinds import HISTORY_KINDS
from sysalert_tui.output import print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    p = sub.add_parser(
        "history", help="state changes, incidents, maintenance and who changed what, newest first"
    )
    p.add_argument("--target", help="one target's events (its incidents included)")
    p.add_argument("--kind", choices=HISTORY_KINDS, help="one kind of event")
    p.add_argument("--limit", type=_limit, default=50, help="how many, 1 to 1000 (default 50)")
    p.add_argument("--before", type=float, help="older than this Unix time (the next page)")
    add_json(p)
    p.set_defaults(handler=cmd_history)


def _limit(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 1000")
    return int(text)


def cmd_history(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = cmds.history(
            target=args.target, kind=args.kind, before=args.before, limit=args.limit
        )
    if args.json:
        print_json(items)
        return 0
    print_table(
        ["time (UTC)", "event", "target", "by", "detail"],
        [
            [
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(h["ts"])),
                h["action"],
                h.get("target") or h.get("ref") or "-",
                h.get("actor") or "-",
                (h.get("detail") or "")[:60],
            ]
            for h in items
        ],
        empty="no events",
    )
    return 0
