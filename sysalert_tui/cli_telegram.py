"""CLI: telegram login | logout | status. The account alerts are sent from.

Login runs here, not through the daemon: it is interactive, and it writes the sealed session to
the store, where a running engine picks it up within seconds. Prompts go to stderr; answers come
from the terminal, or one per line from stdin when it is not a terminal (scripts, tests).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import anyio

from sysalert_tui.output import ago, print_json
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    t = sub.add_parser(
        "telegram", help="the Telegram account alerts come from: login, logout, status"
    )
    ts = t.add_subparsers(dest="tg_cmd", metavar="ACTION", required=True)
    li = ts.add_parser("login", help="log in: phone, login code, and the 2FA password if set")
    add_json(li)
    li.set_defaults(handler=cmd_login)
    lo = ts.add_parser("logout", help="end the session at Telegram and erase it here")
    add_json(lo)
    lo.set_defaults(handler=cmd_logout)
    st = ts.add_parser("status", help="who is logged in (masked) and the engine's connection")
    add_json(st)
    st.set_defaults(handler=cmd_status)


def _ask(label: str, secret: bool = False) -> str:
    """One answer. A terminal gets a prompt (and no echo for secrets); a pipe gets read by line."""
    from engine.telegram.login import LoginError

    if secret and sys.stdin.isatty():
        try:
            return getpass.getpass(f"{label} ", stream=sys.stderr)
        except EOFError:
            raise LoginError("login cancelled: no answer", "run the login again") from None
    print(label, end=" ", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        print(file=sys.stderr)
        raise LoginError(
            "login cancelled: no more input", "answer each prompt, or pipe one answer per line"
        )
    if not sys.stdin.isatty():
        print(file=sys.stderr)  # the piped answer was not echoed: end the prompt's line
    return line.rstrip("\r\n")


def cli_prompts() -> Any:
    from engine.telegram.login import LoginPrompts

    async def phone() -> str:
        return await anyio.to_thread.run_sync(_ask, "Phone number:")

    async def code() -> str:
        return await anyio.to_thread.run_sync(_ask, "Login code:")

    async def password() -> str:
        return await anyio.to_thread.run_sync(_ask, "2FA password:", True)

    async def notify(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    return LoginPrompts(phone, code, password, notify)


def cmd_login(args: argparse.Namespace) -> int:
    with open_commands(args, prefer_daemon=False) as cmds:
        res = anyio.run(cmds.telegram_login, cli_prompts())
    if args.json:
        print_json(res)
    elif res["already"]:
        print(
            f"already logged in to Telegram as {res['account']} (`sysalert telegram logout` first)"
        )
    else:
        print(f"logged in to Telegram as {res['account']}; the session is sealed in the store")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    with open_commands(args, prefer_daemon=False) as cmds:
        res = anyio.run(cmds.telegram_logout)
    if args.json:
        print_json(res)
    elif not res["was_logged_in"]:
        print("not logged in to Telegram: nothing to do")
    elif res["ended_at_telegram"]:
        print("logged out of Telegram; the session is erased")
    else:
        print(
            "the session is erased here, but Telegram could not be told: end it in a Telegram "
            "app under Settings > Devices"
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        st = cmds.telegram_status()
    health = st.get("health")
    ok = bool(st["logged_in"]) and (health is None or bool(health["ok"]))
    if args.json:
        print_json(st)
        return 0 if ok else 1
    if not st["logged_in"]:
        print("Telegram: not logged in (run `sysalert telegram login`)")
        return 1
    since = f" ({ago(st['since'])})" if st.get("since") else ""
    print(f"Telegram: logged in as {st['account']}{since}")
    if health is None:
        print(
            "engine: not running here (alerts go out while `sysalert --daemon` or the console runs)"
        )
    else:
        print(f"engine: {'ok' if health['ok'] else 'FAILING'}, {health['state']}")
    return 0 if ok else 1
