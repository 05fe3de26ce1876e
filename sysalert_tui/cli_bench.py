"""CLI: bench add|list|run|baseline|remove. `bench run` exits 1 when the score regressed."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

import anyio

from engine.benchmarks.scoring import fmt
from engine.core.errors import SysAlertError
from sysalert_tui.output import ago, print_json, print_table
from sysalert_tui.session import open_commands

_SPARK = "▁▂▃▄▅▆▇█"


def register(sub: Any, add_json: Any) -> None:
    b = sub.add_parser("bench", help="benchmarks: a score on a schedule against a baseline")
    bs = b.add_subparsers(dest="bench_cmd", metavar="ACTION", required=True)
    a = bs.add_parser("add", help="add a benchmark: cpu, https://..., tcp://host:port, cmd:/path")
    a.add_argument(
        "spec",
        help="cpu | https://host/path | tcp://host:port | host:port | cmd:/path (options: ?n=20&threshold=30)",
    )
    a.add_argument("--name")
    a.add_argument("--interval", help="how often: 30m, 1h (default 1h)")
    a.add_argument(
        "--threshold", help="regression threshold in percent (default 20 cpu/command, 50 latency)"
    )
    add_json(a)
    a.set_defaults(handler=cmd_add)
    ls = bs.add_parser("list", help="score vs baseline, delta, status and trend")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    for name, fn, helptext in (
        ("run", cmd_run, "measure now; exit 1 if regressed or failed"),
        ("baseline", cmd_baseline, "set the baseline to the current score"),
        ("remove", cmd_remove, "delete a benchmark and its runs"),
    ):
        s = bs.add_parser(name, help=helptext)
        s.add_argument("ref", metavar="ID|NAME")
        add_json(s)
        s.set_defaults(handler=fn)


def _method(cmds: Any, name: str) -> Any:
    try:
        return getattr(cmds, name)
    except AttributeError:
        raise SysAlertError(
            f"the running daemon does not offer `{name}` yet",
            "upgrade the daemon, or stop it and run the command again",
        ) from None


def _delta(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1f}%"


def sparkline(values: list[float | None]) -> str:
    """The last runs at a glance; a failed run shows as `x`."""
    nums = [v for v in values if v is not None]
    if not nums:
        return "x" * len(values) or "-"
    lo, hi = min(nums), max(nums)
    span = (hi - lo) or 1.0
    return "".join(
        "x" if v is None else _SPARK[int((v - lo) / span * (len(_SPARK) - 1))] for v in values
    )


def cmd_add(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        b = _method(cmds, "add_benchmark")(
            args.spec, name=args.name, interval=args.interval, threshold=args.threshold
        )
    if args.json:
        print_json(b)
    else:
        print(
            f"added benchmark {b['name']} ({b['kind']}, every {b['interval_s']:g}s, threshold {b['threshold_pct']:g}%); "
            "the first runs set its baseline"
        )
        if b.get("measures"):
            print(f"measures: {b['measures']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        items = _method(cmds, "list_benchmarks")()
    if args.json:
        print_json(items)
        return 0
    print_table(
        ["id", "name", "kind", "score", "baseline", "delta", "status", "trend", "last run"],
        [
            [
                b["id"],
                b["name"],
                b["kind"],
                fmt(b.get("score"), b.get("unit", "")),
                fmt(b.get("baseline"), b.get("unit", "")),
                _delta(b.get("delta_pct")),
                b["status"],
                sparkline(b.get("trend") or []),
                ago(b.get("last_run_at")),
            ]
            for b in items
        ],
        empty="no benchmarks yet: `sysalert bench add cpu`",
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        fn = _method(cmds, "run_benchmark")
        res = anyio.run(fn, args.ref) if inspect.iscoroutinefunction(fn) else fn(args.ref)
    if args.json:
        print_json(res)
    else:
        unit = res.get("unit", "")
        if not res["ok"]:
            print(f"{res['name']}: failed ({res.get('error_class')}): {res.get('detail', '')}")
        else:
            line = f"{res['name']}: {fmt(res['score'], unit)} vs baseline {fmt(res.get('baseline'), unit)}"
            if res.get("delta_pct") is not None:
                line += f" ({_delta(res['delta_pct'])}, threshold {res['threshold_pct']:g}%)"
            line += f": {res['status']}"
            if res.get("baseline_set"):
                line += " (baseline set from the first runs)"
            print(line)
            if res.get("measures"):
                print(f"  the score: {res['measures']}")
    return 1 if res["status"] in ("regressed", "failed") else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        b = _method(cmds, "set_baseline")(args.ref)
    if args.json:
        print_json(b)
    else:
        print(f"baseline of {b['name']} is now {fmt(b['baseline'], b.get('unit', ''))}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with open_commands(args) as cmds:
        res = _method(cmds, "remove_benchmark")(args.ref)
    if args.json:
        print_json(res)
    else:
        print(f"removed benchmark {res['removed']}")
    return 0
