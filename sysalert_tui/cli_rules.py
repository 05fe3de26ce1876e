"""CLI: rules add|list|enable|disable|remove (metric alert rules at run time)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.core.errors import BadInput
from engine.core.rulespec import parse_when
from sysalert_tui.output import print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    p = sub.add_parser("rules", help="metric alert rules: add, list, enable, disable, remove")
    ps = p.add_subparsers(dest="rule_cmd", metavar="ACTION", required=True)
    a = ps.add_parser(
        "add", help="e.g. rules add 'cpu hot' --metric system.cpu --when '> 90' --for 5m"
    )
    a.add_argument("name")
    a.add_argument(
        "--metric",
        required=True,
        help="latency, up, value, system.cpu|memory|disk|load|swap, cert_days, benchmark.score",
    )
    a.add_argument("--when", required=True, help="comparison and threshold: '> 90', '<= 14'")
    a.add_argument(
        "--for", dest="duration", default="0s", help="must hold this long (like Prometheus for:)"
    )
    a.add_argument("--severity", default="medium", choices=["low", "medium", "high", "critical"])
    a.add_argument(
        "--channel", action="append", default=[], dest="channels", help="contact name, repeatable"
    )
    a.add_argument(
        "--target",
        help="target (or benchmark) the metric belongs to; '*' every target, 'tag:NAME' a tag's",
    )
    add_json(a)
    a.set_defaults(handler=cmd_add)
    ls = ps.add_parser("list", help="rules from the config and added at run time")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    for name, fn, text in (
        ("enable", cmd_enable, "turn a rule on"),
        ("disable", cmd_disable, "turn a rule off (kept)"),
        ("remove", cmd_remove, "delete a run-time rule"),
    ):
        s = ps.add_parser(name, help=text)
        s.add_argument("ref", metavar="ID|NAME")
        add_json(s)
        s.set_defaults(handler=fn)


def cmd_add(args: argparse.Namespace) -> int:
    try:
        comparison, threshold = parse_when(args.when)
    except BadInput as exc:
        raise BadInput(f"--when {exc.message}", exc.hint) from None
    with open_commands(args) as cmds:
        r = cmds.add_rule(
            args.name,
            args.metric,
            comparison,
            threshold,
            args.duration,
            args.severity,
            args.channels,
            args.target,
        )
    if args.json:
        print_json(r)
    else:
        print(
            f"added rule {r['name']}: {r['metric']} {r['comparison']} {r['threshold']:g} for {r['duration_s']:g}s"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = cmds.list_rules()
    if args.json:
        print_json(items)
    else:
        print_table(
            ["id", "name", "when", "for", "severity", "target", "contacts", "on", "from"],
            [
                [
                    r["id"],
                    r["name"],
                    f"{r['metric']} {r['comparison']} {r['threshold']:g}",
                    f"{r['duration_s']:g}s",
                    r["severity"],
                    r["target"] or "-",
                    ",".join(r.get("channels") or []) or "(all)",
                    "yes" if r["enabled"] else "no",
                    "config" if r["declared"] else "runtime",
                ]
                for r in items
            ],
            empty="no rules: `sysalert rules add NAME --metric system.cpu --when '> 90' --for 5m`",
        )
    return 0


def _toggle(args: argparse.Namespace, enabled: bool) -> int:
    with open_commands(args) as cmds:
        r = cmds.set_rule_enabled(args.ref, enabled=enabled)
    print_json(r) if args.json else print(
        f"rule {r['name']} {'enabled' if enabled else 'disabled'}"
    )
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    return _toggle(args, True)


def cmd_disable(args: argparse.Namespace) -> int:
    return _toggle(args, False)


def cmd_remove(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        r = cmds.remove_rule(args.ref)
    print_json(r) if args.json else print(f"removed rule {r['removed']}")
    return 0
