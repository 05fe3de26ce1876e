"""CLI: `sysalert engines`, the engines sharing this store (several engines on PostgreSQL)."""

from __future__ import annotations

import argparse
from typing import Any

from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    e = sub.add_parser(
        "engines", help="the engines sharing this store: id, location, targets held, last seen"
    )
    add_json(e)
    e.set_defaults(handler=cmd_engines)


def cmd_engines(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        rows = cmds.list_engines()
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["id", "location", "targets", "last seen", "state"],
        [
            [
                r["id"],
                r["location"],
                str(r["targets_held"]),
                ago(r["last_seen"]),
                ("leader" if r["leader"] else "alive")
                if r["alive"]
                else ("stopped" if r["stopped"] else "gone"),
            ]
            for r in rows
        ],
        empty="one engine: a SQLite store is never shared (PostgreSQL stores list their engines)",
    )
    return 0
