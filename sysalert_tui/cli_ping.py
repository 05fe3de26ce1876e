"""CLI: `sysalert ping NAME [start|fail|log|EXIT]`, a heartbeat ping from this machine.

A cron job on the engine's own host needs no TCP listener and no URL in its crontab:
`backup.sh; sysalert ping backup $?`. The ping goes to the running engine over the data
directory's socket (or `--connect`) as the same Healthchecks-shaped request a remote host sends,
and is acknowledged only once it is stored.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from engine.errors import BadInput, NotFound, SysAlertError
from sysalert_tui.output import print_json
from sysalert_tui.session import open_commands

_WHAT = re.compile(r"^(start|fail|log|success|\d{1,3})$")


def register(sub: Any, add_json: Any) -> None:
    p = sub.add_parser(
        "ping",
        help="ping a heartbeat from this machine: sysalert ping backup [start|fail|log|EXIT]",
    )
    p.add_argument("ref", metavar="ID|NAME")
    p.add_argument(
        "what",
        nargs="?",
        default="success",
        metavar="start|fail|log|EXIT",
        help="what happened: success (the default), start, fail, log, or an exit status 0-255",
    )
    add_json(p)
    p.set_defaults(handler=cmd_ping)


def ping_suffix(what: str) -> str:
    """The Healthchecks URL suffix for `what`: '' for a success, '/start', '/0'..'/255'."""
    what = what.strip().lower()
    if not _WHAT.match(what) or (what.isdigit() and int(what) > 255):
        raise BadInput(
            f"{what!r} is not a ping: use start, fail, log, success or an exit status 0-255",
            "e.g. `sysalert ping backup start`, then `sysalert ping backup $?`",
        )
    return "" if what == "success" else f"/{int(what) if what.isdigit() else what}"


def cmd_ping(args: argparse.Namespace) -> int:
    suffix = ping_suffix(args.what)
    with open_commands(args) as cmds:
        if getattr(cmds, "mode", "local") != "attached":
            raise SysAlertError(
                "no SysAlert engine is running here to take the ping",
                "start `sysalert --daemon` (or the console): the engine keeps the deadline",
            )
        info = cmds.heartbeat_info(args.ref)
        token = (info.get("ping_url") or "").rstrip("/").rsplit("/", 1)[-1]
        r = cmds.http.get(f"/ping/{token}{suffix}")
        if r.status_code == 404:
            raise NotFound(f"the engine does not know the heartbeat {args.ref!r}", "")
        if r.status_code != 200:
            raise SysAlertError(f"the engine refused the ping: {r.text.strip()[:200]}", "")
        info = cmds.heartbeat_info(args.ref)
    if args.json:
        print_json(info)
    else:
        print(f"pinged {args.ref} ({args.what.strip().lower()}): {info['detail']}")
    return 0
