"""CLI: subscribers add CHAT_ID [--admin] | list [--json] | remove CHAT_ID
| limit CHAT_ID [--targets N|default] [--benchmarks N|default]."""

from __future__ import annotations

import argparse
from typing import Any

from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    p = sub.add_parser(
        "subscribers", help="Telegram subscribers: add CHAT_ID, list, remove CHAT_ID"
    )
    ps = p.add_subparsers(dest="sub_cmd", metavar="ACTION", required=True)
    a = ps.add_parser("add", help="allow a Telegram chat id to use SysAlert from the chat")
    a.add_argument("chat_id")
    a.add_argument("--admin", action="store_true", help="may run /addsub, /rmsub, /stats")
    add_json(a)
    a.set_defaults(handler=cmd_add)
    ls = ps.add_parser("list", help="subscribers with masked ids, role and quota use")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    rm = ps.add_parser("remove", help="remove a subscriber and erase everything they own")
    rm.add_argument("chat_id")
    add_json(rm)
    rm.set_defaults(handler=cmd_remove)
    lim = ps.add_parser("limit", help="a subscriber's own quota (wins over the config and profile)")
    lim.add_argument("chat_id")
    lim.add_argument("--targets", metavar="N", help="most targets they may own; 0 none; default")
    lim.add_argument("--benchmarks", metavar="N", help="most benchmarks; 0 none; default")
    add_json(lim)
    lim.set_defaults(handler=cmd_limit)


def cmd_add(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        rec = cmds.add_subscriber(args.chat_id, role="admin" if args.admin else "subscriber")
    if args.json:
        print_json(rec)
    else:
        print(f"added subscriber {rec['chat']} ({rec['role']})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = cmds.list_subscribers()
    if args.json:
        print_json(items)
    else:
        print_table(
            ["chat", "role", "targets", "benchmarks", "last seen"],
            [
                [
                    i["chat"],
                    i["role"],
                    use_of(i, "targets"),
                    use_of(i, "benchmarks"),
                    ago(i["last_seen_at"]),
                ]
                for i in items
            ],
            empty="no subscribers: `sysalert subscribers add CHAT_ID`",
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.remove_subscriber(args.chat_id)
    if args.json:
        print_json(res)
    else:
        print(f"removed subscriber {res['removed']} and everything they owned")
    return 0


def cmd_limit(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.set_subscriber_limits(
            args.chat_id, max_targets=args.targets, max_benchmarks=args.benchmarks
        )
    if args.json:
        print_json(res)
    else:
        q = res["quota"]
        shown = {k: "unlimited" if v["limit"] is None else v["limit"] for k, v in q.items()}
        print(
            f"subscriber {res['chat']}: up to {shown['targets']} targets "
            f"and {shown['benchmarks']} benchmarks"
        )
    return 0


def use_of(item: dict[str, Any], kind: str) -> str:
    """`2/5`, or `2` when unlimited (the console's Subscribers screen shows the same)."""
    q = (item.get("quota") or {}).get(kind) or {}
    used = q.get("used", (item.get("usage") or {}).get(kind, 0))
    return str(used) if q.get("limit") is None else f"{used}/{q['limit']}"
