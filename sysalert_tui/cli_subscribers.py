"""CLI: subscribers add CHAT_ID [--admin] | list [--json] | remove CHAT_ID."""

from __future__ import annotations

import argparse
from typing import Any

from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    p = sub.add_parser("subscribers", help="Telegram subscribers: add CHAT_ID, list, remove CHAT_ID")
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
        print_table(["chat", "role", "targets", "benchmarks", "last seen"],
                    [[i["chat"], i["role"], i["usage"]["targets"], i["usage"]["benchmarks"], ago(i["last_seen_at"])] for i in items],
                    empty="no subscribers: `sysalert subscribers add CHAT_ID`")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.remove_subscriber(args.chat_id)
    if args.json:
        print_json(res)
    else:
        print(f"removed subscriber {res['removed']} and everything they owned")
    return 0
