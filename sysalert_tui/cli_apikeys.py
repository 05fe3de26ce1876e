"""CLI: apikey add|list|remove. Keys guard the TCP listener; the Unix socket needs none.

These work on the store directly (never over the API): minting a key is a local administrator's act,
and the running daemon reads the key table on each request, so a new key works at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    k = sub.add_parser("apikey", help="API keys for the TCP listener: add, list, remove")
    ks = k.add_subparsers(dest="apikey_cmd", metavar="ACTION", required=True)
    a = ks.add_parser("add", help="create a key and print it once (only its hash is stored)")
    a.add_argument("--label", help="what the key is for, e.g. grafana (stored sealed)")
    add_json(a)
    a.set_defaults(handler=cmd_add)
    ls = ks.add_parser("list", help="key ids and labels (never the keys)")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    rm = ks.add_parser("remove", help="revoke a key at once")
    rm.add_argument("id", metavar="ID")
    add_json(rm)
    rm.set_defaults(handler=cmd_remove)


def cmd_add(args: argparse.Namespace) -> int:
    with open_commands(args, prefer_daemon=False) as cmds:
        res = cmds.add_api_key(args.label)
    if args.json:
        print_json(res)
    else:
        print(res["key"])
        print(
            f"API key {res['id']} created: it is shown only now, store it safely", file=sys.stderr
        )
        print("send it as `X-API-Key: KEY` or `Authorization: Bearer KEY`", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_commands(args, prefer_daemon=False) as cmds:
        items = cmds.list_api_keys()
    if args.json:
        print_json(items)
    else:
        print_table(
            ["id", "label", "created"],
            [[k["id"], k["label"] or "-", ago(k["created_at"])] for k in items],
            empty="no API keys: `sysalert apikey add --label NAME`",
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with open_commands(args, prefer_daemon=False) as cmds:
        res = cmds.remove_api_key(args.id)
    if args.json:
        print_json(res)
    else:
        print(f"removed API key {res['removed']}")
    return 0
