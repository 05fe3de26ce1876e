"""CLI: `sysalert ping NAME [start|fail|log|EXIT]`, a heartbeat ping from this machine.

A cron job on the engine's own host needs no TCP listener and no URL in its crontab:
`backup.sh; sysalert ping backup $?`. The ping goes to the running engine over the data
directory's socket (or `--connect`) as the same Healthchecks-shaped request a remote host sends,
and is acknowledged only once it is stored. While no engine runs (a restart, an upgrade) the ping
is stored directly and counts when the engine starts, so a job that ran meanwhile is not missed.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import httpx

from engine.core.errors import BadInput, NotFound, SysAlertError
from sysalert_tui.output import print_json
from sysalert_tui.session import open_commands

PING_WAIT_S = 15.0  # an engine that holds the lock this long without answering is stuck
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


def parse_what(what: str) -> tuple[str, int | None]:
    """(kind, exit status) for `what`: ("success", None), ("start", None), ("exit", 3)..."""
    what = what.strip().lower()
    if not _WHAT.match(what) or (what.isdigit() and int(what) > 255):
        raise BadInput(
            f"{what!r} is not a ping: use start, fail, log, success or an exit status 0-255",
            "e.g. `sysalert ping backup start`, then `sysalert ping backup $?`",
        )
    return ("exit", int(what)) if what.isdigit() else (what, None)


def cmd_ping(args: argparse.Namespace) -> int:
    kind, exit_status = parse_what(args.what)
    suffix = "" if kind == "success" else f"/{exit_status if kind == 'exit' else kind}"
    with open_commands(args) as cmds:
        if getattr(cmds, "mode", "local") == "attached":
            info = _send(cmds, args.ref, suffix)
        else:
            info = _store_while_no_engine(args, cmds, kind, exit_status, suffix)
    label = args.what.strip().lower()
    if args.json:
        print_json(info)
    elif info.get("stored_for_replay"):
        print(
            f"stored ping of {args.ref} ({label}): no engine runs now; it counts when SysAlert "
            "starts (`sysalert --daemon` or the console)"
        )
    else:
        print(f"pinged {args.ref} ({label}): {info['detail']}")
    return 0


def _send(cmds: Any, ref: str, suffix: str) -> dict[str, Any]:
    """The Healthchecks-shaped request a remote host sends, over the attach client's transport;
    the engine answers 200 once the ping is stored."""
    info = cmds.heartbeat_info(ref)
    token = (info.get("ping_url") or "").rstrip("/").rsplit("/", 1)[-1]
    try:
        r = cmds.http.get(f"/ping/{token}{suffix}")
    except httpx.TransportError as exc:
        raise SysAlertError(
            f"the engine did not take the ping: {type(exc).__name__}", "ping again"
        ) from None
    if r.status_code == 404:
        raise NotFound(f"the engine does not know the heartbeat {ref!r}", "")
    if r.status_code != 200:
        raise SysAlertError(f"the engine refused the ping: {r.text.strip()[:200]}", "")
    return dict(cmds.heartbeat_info(ref))


def _store_while_no_engine(
    args: argparse.Namespace, cmds: Any, kind: str, exit_status: int | None, suffix: str
) -> dict[str, Any]:
    """No engine answers: hold the engine lock so none starts (and replays) halfway, and store
    the ping for the next start. The lock is busy while another `sysalert ping` stores its own
    (cron jobs fire together) or while an engine starts: try again, and send the ping to the
    engine as soon as its socket answers."""
    from engine.api.client import connect_if_running
    from engine.core.errors import StoreBusy
    from sysalert_tui.cli import load_settings
    from sysalert_tui.daemon import InstanceLock

    settings = load_settings(args)
    lock = InstanceLock(settings.data_dir / "engine.lock")
    deadline = time.monotonic() + PING_WAIT_S
    while True:
        try:
            lock.acquire()
            break
        except StoreBusy:
            remote = connect_if_running(settings)
            if remote is not None:
                try:
                    return _send(remote, args.ref, suffix)
                finally:
                    remote.close()
            if time.monotonic() > deadline:
                raise SysAlertError(
                    "a SysAlert engine holds this store but does not answer on its socket",
                    "check `systemctl status sysalert` or the daemon's log, then ping again",
                ) from None
            time.sleep(0.05)
    try:
        return dict(cmds.store_ping(args.ref, kind, exit_status))
    finally:
        lock.release()
