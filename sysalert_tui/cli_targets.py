"""CLI: target add|list|show|edit|remove|pause|resume, check, status, export, import."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import anyio
from pydantic_core import to_jsonable_python

from engine.core.domain import STATE_SYMBOLS
from screens.fmt import metric_of
from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands
from sysalert_tui.target_text import check_line, latest_result, measured, show_lines


def register(sub: Any, add_json: Any) -> None:
    t = sub.add_parser("target", help="add, list, show, edit, remove targets")
    ts = t.add_subparsers(dest="target_cmd", metavar="ACTION", required=True)

    a = ts.add_parser("add", help="add a target: sysalert target add tcp://db:5432 --name db")
    a.add_argument(
        "spec",
        help="tcp://host:port, https://..., icmp://host, dns://..., tls://..., cmd:..., heartbeat://..., system://...",
    )
    a.add_argument("--name")
    a.add_argument("--interval", help="how often: 30s, 5m")
    a.add_argument("--timeout", help="per check: 5s")
    a.add_argument("--tag", action="append", default=[], dest="tags")
    a.add_argument(
        "--condition",
        action="append",
        default=[],
        dest="conditions",
        help="Gatus syntax, repeatable",
    )
    a.add_argument(
        "--option",
        action="append",
        default=[],
        dest="options",
        help="probe option KEY=VALUE (http: method, keyword, ...)",
    )
    a.add_argument("--depends-on", help="parent target: its outage holds this one's alerts")
    _threshold_flags(a)
    _location_flags(a)
    add_json(a)
    a.set_defaults(handler=cmd_add)

    ls = ts.add_parser("list", help="list targets")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    for name, fn, helptext in (
        ("show", cmd_show, "one target in full"),
        ("remove", cmd_remove, "delete a target and its history"),
        ("pause", cmd_pause, "stop probing a target"),
        ("resume", cmd_resume, "probe a paused target again"),
    ):
        s = ts.add_parser(name, help=helptext)
        s.add_argument("ref", metavar="ID|NAME")
        add_json(s)
        s.set_defaults(handler=fn)
    e = ts.add_parser("edit", help="change a target")
    e.add_argument("ref", metavar="ID|NAME")
    e.add_argument("--spec")
    e.add_argument("--name")
    e.add_argument("--interval")
    e.add_argument("--timeout")
    e.add_argument("--tag", action="append", dest="tags")
    e.add_argument("--condition", action="append", dest="conditions")
    e.add_argument(
        "--option",
        action="append",
        default=[],
        dest="options",
        help="probe option KEY=VALUE, merged into the target's (KEY= removes one)",
    )
    e.add_argument("--depends-on", help="parent target ('' to remove the dependency)")
    _threshold_flags(e)
    _location_flags(e)
    add_json(e)
    e.set_defaults(handler=cmd_edit)

    c = sub.add_parser("check", help="probe once now and print the result; exit 0 ok, 1 failed")
    c.add_argument("what", metavar="SPEC|ID|NAME")
    c.add_argument("--condition", action="append", default=[], dest="conditions")
    c.add_argument("--timeout", default=None)
    add_json(c)
    c.set_defaults(handler=cmd_check)

    st = sub.add_parser("status", help="every target's state; exit 0 all up, 1 any down")
    add_json(st)
    st.set_defaults(handler=cmd_status)

    ex = sub.add_parser("export", help="print targets as TOML (targets as code)")
    ex.set_defaults(handler=cmd_export)
    im = sub.add_parser("import", help="add or update targets from a TOML file")
    im.add_argument("file", type=Path)
    im.set_defaults(handler=cmd_import)


def _threshold_flags(p: Any) -> None:
    p.add_argument(
        "--down-after",
        dest="failure_threshold",
        metavar="N",
        help="failed checks in a row before down (default: [engine] failure_threshold)",
    )
    p.add_argument(
        "--up-after",
        dest="recovery_threshold",
        metavar="N",
        help="good checks in a row before a down target is up again",
    )


def _location_flags(p: Any) -> None:
    p.add_argument(
        "--locations",
        metavar="A,B",
        help="probe from each of these engine locations (several engines on PostgreSQL)",
    )
    p.add_argument(
        "--quorum",
        metavar="N",
        help="locations that must see it down before it is down (default: a majority)",
    )


def _options(pairs: list[str]) -> dict[str, Any]:
    from engine.core.errors import BadInput

    out: dict[str, Any] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise BadInput(f"--option {p!r} is not KEY=VALUE", "e.g. --option method=POST")
        out[k.strip()] = v
    return out


def cmd_add(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        rec = cmds.add_target(
            args.spec,
            name=args.name,
            interval=args.interval,
            timeout=args.timeout,
            tags=args.tags,
            conditions=args.conditions,
            options=_options(args.options),
            depends_on=args.depends_on,
            failure_threshold=args.failure_threshold,
            recovery_threshold=args.recovery_threshold,
            locations=args.locations,
            quorum=args.quorum,
        )
        pub = _pub(cmds, rec)
        beat = cmds.heartbeat_info(pub["id"]) if pub["kind"] == "heartbeat" else None
    if args.json:
        print_json(pub)
    elif beat is not None:
        print(f"added {pub['id']} {pub['name']} (heartbeat, expects a ping {beat['expects']})")
        print(f"ping URL: {beat['ping_url']}")
        if beat["hint"]:
            print(f"note: {beat['hint']}")
    else:
        print(f"added {pub['id']} {pub['name']} ({pub['kind']}, every {pub['interval_s']:g}s)")
    return 0


def _pub(cmds: Any, rec: Any) -> dict[str, Any]:
    """A target result as its JSON (model_dump(mode="json")), the same embedded and attached."""
    out: dict[str, Any] = to_jsonable_python(rec)
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from sysalert_tui import cli_stream

    with open_commands(args) as cmds:
        if args.json:  # written as the pages come: the first target at once, memory flat
            cli_stream.write_array(cli_stream.public_pages(cmds), sys.stdout)
            sys.stdout.write("\n")
            return 0
        recs = [r for page in cli_stream.public_pages(cmds) for r in page]
        latest = {r["id"]: latest_result(cmds, r) for r in recs if metric_of(r["kind"]) == "value"}
    print_table(
        ["id", "state", "name", "kind", "every", "latency", "checked"],
        [
            [
                r["id"],
                f"{STATE_SYMBOLS.get(r['state'], '?')} {r['state']}",
                r["name"],
                r["kind"],
                _every(r),
                measured(r, latest.get(r["id"])),
                ago(r["last_check_at"]),
            ]
            for r in recs
        ],
        empty="no targets yet: add one with `sysalert target add tcp://host:port --name NAME`",
    )
    return 0


def _every(r: dict[str, Any]) -> str:
    """How often a target is checked; for a heartbeat, how often a ping is expected."""
    if r["kind"] != "heartbeat":
        return f"{r['interval_s']:g}s"
    from engine.checks.specs import parse_spec
    from engine.heartbeats.heartbeat import HeartbeatConfig

    return HeartbeatConfig.from_spec(parse_spec(r["spec"])).short()


def cmd_show(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        r = _pub(cmds, cmds.get_target(args.ref))
        if r["kind"] == "heartbeat":
            r["heartbeat"] = cmds.heartbeat_info(r["id"])
            latest = None
        else:
            latest = latest_result(cmds, r)
        if r.get("locations"):  # each location's latest result, not just their names
            # (a SQLite store has one engine, which probes every target: names only)
            r["locations"] = cmds.target_locations(r["id"]) or r["locations"]
    if args.json:
        print_json(r)
    else:
        for line in show_lines(r, latest):
            print(line)
        for loc in r.get("locations") or []:
            if isinstance(loc, str):  # a name only (SQLite): shown above
                continue
            lat, up = loc["latency_ms"], loc.get("uptime")
            print(
                f"  {loc['location']:<12} {loc['state']:<9}"
                f" {'' if lat is None else f'{lat:.0f} ms':<9} {ago(loc['checked_at'])}"
                + ("" if up is None else f"  uptime 24h {up:.2f}%")
            )
    return 0


def _simple(args: argparse.Namespace, method: str, verb: str, **kw: Any) -> int:
    with open_commands(args) as cmds:
        r = _pub(cmds, getattr(cmds, method)(args.ref, **kw))
    if args.json:
        print_json(r)
    else:
        print(f"{verb} {r['id']} {r['name']}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    return _simple(args, "remove_target", "removed")


def _pause(args: argparse.Namespace, paused: bool) -> int:
    """`pause` and `resume` set the state they name (not a toggle, as the console's `p` is); one
    already so is left alone and the answer says how to get the other."""
    with open_commands(args) as cmds:
        r = _pub(cmds, cmds.get_target(args.ref))
        if r["paused"] == paused:
            if args.json:
                print_json(r)
                return 0
            other = "resume" if paused else "pause"
            print(
                f"{r['name']} is {'already paused' if paused else 'not paused'}:"
                f" `sysalert target {other} {shlex.quote(r['name'])}` {other}s it"
            )
            return 0
        r = _pub(cmds, cmds.pause_target(args.ref, paused=paused))
    if args.json:
        print_json(r)
    else:
        print(f"{'paused' if paused else 'resumed'} {r['id']} {r['name']}")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    return _pause(args, True)


def cmd_resume(args: argparse.Namespace) -> int:
    return _pause(args, False)


def cmd_edit(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.options:
        with open_commands(args) as cmds:
            current = dict(_pub(cmds, cmds.get_target(args.ref)).get("options") or {})
        for key, value in _options(args.options).items():
            if value == "":
                current.pop(key, None)
            else:
                current[key] = value
        changes["options"] = current
    if args.depends_on is not None:
        changes["depends_on"] = args.depends_on
    return _simple(
        args,
        "edit_target",
        "updated",
        spec=args.spec,
        name=args.name,
        interval=args.interval,
        timeout=args.timeout,
        tags=args.tags,
        conditions=args.conditions,
        failure_threshold=args.failure_threshold,
        recovery_threshold=args.recovery_threshold,
        locations=args.locations,
        quorum=args.quorum,
        **changes,
    )


def cmd_check(args: argparse.Namespace) -> int:
    """The check command (engine.commands.checking), probed here: a spec needs no store."""
    from engine.commands.checking import CheckCommands, spec_or_none

    def probe(cmds: Any) -> Any:
        return anyio.run(lambda: cmds.check(args.what, args.conditions, args.timeout))

    if spec_or_none(args.what) is not None:
        res = probe(CheckCommands())
    else:
        with open_commands(args, prefer_daemon=False) as cmds:
            res = probe(cmds)
    if args.json:
        print_json(res.model_dump(mode="json", exclude={"kind", "queued"}))
    else:
        print(check_line(res.kind, res))
    return 0 if res.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 1 when a target is down or partial (down in fewer locations than its quorum) or a
    part of the running engine fails; a target in maintenance or paused is shown so and does not
    count (its outage was planned), as the console and the engine's own counts do. Printed a page
    at a time (sysalert_tui/cli_stream.py)."""
    from sysalert_tui import cli_stream

    with open_commands(args) as cmds:
        return cli_stream.status(cmds, args.json)


def cmd_export(args: argparse.Namespace) -> int:
    """Written a page of targets at a time (the first line at once, memory flat at 100,000).
    It reads the store itself, also while a daemon runs: an export holds every password in
    the clear, which the API never answers with."""
    with open_commands(args, prefer_daemon=False) as cmds:
        for part in cmds.export_parts():
            sys.stdout.write(part)
            sys.stdout.flush()  # a reader (a pipe, a file) has each page as it is read
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Embedded, one call writes the file in batches; attached, the file is checked here and
    sent in parts (sysalert_tui/cli_import.py). A rich bar on a terminal either way."""
    from contextlib import nullcontext

    from engine.core.errors import BadInput

    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {args.file}: {exc.strerror}", "check the path") from None
    from sysalert_tui.progress import import_bar

    with open_commands(args) as cmds, import_bar() if sys.stderr.isatty() else nullcontext() as bar:
        if getattr(cmds, "mode", None) == "attached":
            from sysalert_tui.cli import load_settings
            from sysalert_tui.cli_import import import_attached

            res = import_attached(cmds, text, str(args.file), load_settings(args), bar)
        else:
            res = cmds.import_targets(text, source=str(args.file), progress=bar)
    print(
        f"imported: {res['added']} added, {res['updated']} updated,"
        f" {res.get('unchanged', 0)} unchanged"
    )
    return 0
