"""CLI: `sysalert report`, the SLA report (uptime, downtime, incidents, MTTA, MTTR per target)."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from sysalert_tui.output import print_json, print_table
from sysalert_tui.session import open_commands

COLUMNS = (
    "target",
    "uptime_pct",
    "downtime_s",
    "incidents",
    "acknowledged",
    "mtta_s",
    "mttr_s",
    "maintenance_s",
    "checks",
    "failed_checks",
)


def register(sub: Any, add_json: Any) -> None:
    p = sub.add_parser(
        "report",
        help="SLA report: uptime, downtime, incidents, MTTA and MTTR per target (this month so far)",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--month", help="a calendar month, e.g. 2026-11")
    when.add_argument("--days", type=int, help="the last N days, e.g. 30")
    p.add_argument("--from", dest="start", help="first day (YYYY-MM-DD, or a date and time)")
    p.add_argument("--to", dest="end", help="last day, included (YYYY-MM-DD, or a date and time)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--target", help="one target (name or id)")
    which.add_argument("--tag", help="targets with this tag")
    add_json(p)
    p.add_argument("--csv", action="store_true", help="CSV, one row per target")
    p.set_defaults(handler=cmd_report)


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = float(s)
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.0f}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def cmd_report(args: argparse.Namespace) -> int:
    if args.month and (args.start or args.end):
        print("error: give --month or --from/--to, not both", file=sys.stderr)
        return 2
    with open_commands(args) as cmds:
        rep = cmds.sla_report(
            month=args.month,
            start=args.start,
            end=args.end,
            days=args.days,
            target=args.target,
            tag=args.tag,
        )
    if args.json:
        print_json(rep)
        return 0
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(COLUMNS)
        for t in rep["targets"]:
            w.writerow(["" if t[c] is None else t[c] for c in COLUMNS])
        return 0
    print(f"SLA report {rep['period']} ({rep['timezone']})")
    print_table(
        ["target", "uptime", "downtime", "incidents", "MTTA", "MTTR", "maintenance", "checks"],
        [
            [
                t["target"],
                "-" if t["uptime_pct"] is None else f"{t['uptime_pct']:.3f}%",
                _dur(t["downtime_s"]),
                f"{t['incidents']} ({t['acknowledged']} acked)",
                _dur(t["mtta_s"]),
                _dur(t["mttr_s"]),
                _dur(t["maintenance_s"]) if t["maintenance_s"] else "-",
                str(t["checks"]),
            ]
            for t in rep["targets"]
        ],
        empty="no targets",
    )
    return 0
