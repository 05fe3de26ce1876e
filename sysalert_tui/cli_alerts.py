"""CLI: incidents list|ack|resolve|silence, maintenance on|off|list, contacts add|list|remove, notify test."""

from __future__ import annotations

import argparse
import inspect
import shlex
from typing import Any

import anyio

from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands


def register(sub: Any, add_json: Any) -> None:
    inc = sub.add_parser("incidents", help="list, acknowledge, resolve, silence incidents")
    isub = inc.add_subparsers(dest="inc_cmd", metavar="ACTION", required=True)
    ls = isub.add_parser(
        "list", help="incidents, newest first, with notifications and read receipts"
    )
    ls.add_argument("--state", choices=["firing", "acknowledged", "silenced", "resolved"])
    ls.add_argument("--target", help="only this target's")
    ls.add_argument("--limit", default=200, help="how many, newest first (1-1000, default 200)")
    add_json(ls)
    ls.set_defaults(handler=cmd_inc_list)
    ack = isub.add_parser("ack", help="acknowledge: stops reminders and escalation")
    ack.add_argument("id")
    ack.add_argument("--by", help="who acknowledges (audit log; default: your login name)")
    add_json(ack)
    ack.set_defaults(handler=cmd_inc_ack)
    res = isub.add_parser("resolve", help="mark resolved")
    res.add_argument("id")
    add_json(res)
    res.set_defaults(handler=cmd_inc_resolve)
    sil = isub.add_parser("silence", help="no notifications until the time passes")
    sil.add_argument("id")
    sil.add_argument("--for", dest="duration", required=True, help="e.g. 2h")
    add_json(sil)
    sil.set_defaults(handler=cmd_inc_silence)

    m = sub.add_parser("maintenance", help="maintenance on|off TARGET|tag:T|all, list")
    msub = m.add_subparsers(dest="m_cmd", metavar="ACTION", required=True)
    on = msub.add_parser("on", help="start maintenance now (or on a schedule)")
    on.add_argument("what", metavar="TARGET|tag:T|all")
    on.add_argument("--for", dest="duration", help="end after, e.g. 1h (default: until `off`)")
    on.add_argument("--reason", default="")
    on.add_argument(
        "--schedule",
        help="recurring: 'mon-fri 22:00-23:30 Europe/Berlin' or 'cron 0 3 * * * for 1h'",
    )
    add_json(on)
    on.set_defaults(handler=cmd_m_on)
    off = msub.add_parser("off", help="end maintenance now (schedules stay: see remove)")
    off.add_argument("what", metavar="TARGET|tag:T|all")
    add_json(off)
    off.set_defaults(handler=cmd_m_off)
    mls = msub.add_parser("list", help="windows")
    add_json(mls)
    mls.set_defaults(handler=cmd_m_list)
    mrm = msub.add_parser("remove", help="delete a window, recurring ones too: remove ID")
    mrm.add_argument("window_id", metavar="ID", help="from `maintenance list`")
    add_json(mrm)
    mrm.set_defaults(handler=cmd_m_remove)

    c = sub.add_parser("contacts", help="who gets alerts: add NAME CHANNEL:ADDRESS, list, remove")
    csub = c.add_subparsers(dest="c_cmd", metavar="ACTION", required=True)
    ca = csub.add_parser("add", help="e.g. contacts add oncall telegram:@alice --level 1")
    ca.add_argument("name")
    ca.add_argument("address", metavar="CHANNEL:ADDRESS")
    ca.add_argument("--level", type=int, default=1, help="escalation level (1 first)")
    add_json(ca)
    ca.set_defaults(handler=cmd_c_add)
    cl = csub.add_parser("list", help="contacts, their level and whether alerts reach them")
    add_json(cl)
    cl.set_defaults(handler=cmd_c_list)
    cr = csub.add_parser("remove", help="remove a contact and its delivery records")
    cr.add_argument("name")
    cr.set_defaults(handler=cmd_c_remove)

    n = sub.add_parser("notify", help="notify test CONTACT: send a test message now")
    nsub = n.add_subparsers(dest="n_cmd", metavar="ACTION", required=True)
    nt = nsub.add_parser("test", help="send CONTACT a test message now and show the outcome")
    nt.add_argument("contact")
    add_json(nt)
    nt.set_defaults(handler=cmd_notify_test)


def _receipts(i: dict[str, Any]) -> str:
    notes = i.get("notifications") or []
    if not notes:
        return "-"
    read = sum(1 for n in notes if n.get("read_at"))
    sent = sum(1 for n in notes if n.get("sent_at"))
    return f"{sent}/{len(notes)} sent, {read} read"


def cmd_inc_list(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = cmds.list_incidents(state=args.state, target=args.target, limit=args.limit)
    if args.json:
        print_json(items)
    else:
        print_table(
            ["id", "state", "severity", "target", "opened", "receipts"],
            [
                [
                    i["id"],
                    i["state"],
                    i["severity"],
                    i.get("target") or "-",  # a local incident names its subject there too
                    ago(i["opened_at"]),
                    _receipts(i),
                ]
                for i in items
            ],
            empty="no incidents",
        )
    return 0


def _one(args: argparse.Namespace, item: dict[str, Any], verb: str) -> int:
    if args.json:
        print_json(item)
    else:
        print(f"{verb} {item['id']} ({item['state']})")
    return 0


def cmd_inc_ack(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        return _one(args, cmds.ack_incident(args.id, by=args.by), "acknowledged")


def cmd_inc_resolve(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        return _one(args, cmds.resolve_incident(args.id), "resolved")


def cmd_inc_silence(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        return _one(args, cmds.silence_incident(args.id, args.duration), "silenced")


def cmd_m_on(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.maintenance_on(args.what, args.duration, args.reason, schedule=args.schedule)
    if args.json:
        print_json(res)
    else:
        for w in res["windows"]:
            who = w.get("target") or (f"tag:{w['tag']}" if w.get("tag") else "all")
            if w.get("schedule"):  # a plan: `off` keeps it, `remove` deletes it
                print(
                    f"maintenance scheduled for {who}: {w['schedule']} "
                    f"(window {w['id']}; `sysalert maintenance remove {w['id']}` deletes it)"
                )
                continue
            off = f"`sysalert maintenance off {shlex.quote(who)}`"
            if args.duration:
                print(f"maintenance on for {who}, ends in {args.duration} ({off} ends it sooner)")
            else:
                print(f"maintenance on for {who} until {off}")
        if res.get("note"):
            print(f"note: {res['note']}")
    return 0


def cmd_m_off(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.maintenance_off(args.what)
    if args.json:
        print_json(res)
    else:
        print(f"maintenance off for {args.what} ({res['removed']} window(s) ended)")
        if res.get("note"):
            print(f"note: {res['note']}")
    return 0


def cmd_m_list(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = cmds.list_maintenance()
    if args.json:
        print_json(items)
    else:
        print_table(
            ["id", "scope", "target", "kind", "schedule", "active", "reason"],
            [
                [
                    w["id"],
                    w["scope"],
                    w.get("target") or w.get("tag") or "all",
                    w["kind"],
                    w.get("schedule") or "-",
                    "yes" if w.get("active") else "no",
                    w.get("reason") or "",
                ]
                for w in items
            ],
            empty="no maintenance windows",
        )
    return 0


def cmd_m_remove(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.remove_window(args.window_id)
    if args.json:
        print_json(res)
    else:
        print(f"removed maintenance window {args.window_id}")
    return 0


def cmd_c_add(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        c = cmds.add_contact(args.name, args.address, args.level)
    if args.json:
        print_json(c)
    else:
        print(f"added contact {c['name']} ({c['channel']}, level {c['level']})")
    return 0


def cmd_c_list(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = cmds.list_contacts()
    if args.json:
        print_json(items)
    else:
        print_table(
            ["name", "channel", "level", "status"],
            [[c["name"], c["channel"], c["level"], c["status"]] for c in items],
            empty="no contacts yet: `sysalert contacts add oncall webhook:https://...`",
        )
    return 0


def cmd_c_remove(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = cmds.remove_contact(args.name)
    print(f"removed contact {res['removed']}")
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        send = cmds.notify_test  # async here, a plain call to the daemon when attached
        res = (
            anyio.run(send, args.contact)
            if inspect.iscoroutinefunction(send)
            else send(args.contact)
        )
    if args.json:
        print_json(res)
    else:
        print("sent" if res["ok"] else f"failed: {res['error']}")
    return 0 if res["ok"] else 1
