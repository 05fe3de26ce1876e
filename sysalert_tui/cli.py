"""`sysalert`: argument parsing and dispatch. User mistakes are one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine import __version__
from engine.errors import SysAlertError

log = logging.getLogger("sysalert")

Handler = Callable[[argparse.Namespace], int]


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    from sysalert_tui import (
        cli_alerts,
        cli_apikeys,
        cli_bench,
        cli_history,
        cli_ping,
        cli_rules,
        cli_subscribers,
        cli_targets,
        cli_telegram,
    )

    p = argparse.ArgumentParser(
        prog="sysalert",
        description="Terminal operations console and headless monitor. Without a command: the console.",
    )
    p.add_argument("--version", action="version", version=f"sysalert {__version__}")
    p.add_argument(
        "--config",
        type=Path,
        help="config file (default: $SYSALERT_CONFIG or <data-dir>/config.toml)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="data directory (default: $SYSALERT_DATA_DIR or ~/.local/share/sysalert)",
    )
    p.add_argument(
        "--daemon", action="store_true", help="run headless: engine + HTTP API, no console"
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="with --daemon: also listen on TCP (pings, API with keys)",
    )
    p.add_argument("--connect", metavar="URL", help="console attached to a daemon elsewhere")
    p.add_argument("--api-key", help="API key for --connect (or SYSALERT_API_KEY)")
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    init = sub.add_parser("init", help="create config, master key (0600) and an empty store")
    init.add_argument("--force", action="store_true", help="rewrite config.toml (never the key)")
    init.set_defaults(handler=cmd_init)

    cli_targets.register(sub, _add_json)
    cli_ping.register(sub, _add_json)
    cli_alerts.register(sub, _add_json)
    cli_history.register(sub, _add_json)
    cli_subscribers.register(sub, _add_json)
    cli_rules.register(sub, _add_json)
    cli_bench.register(sub, _add_json)
    cli_apikeys.register(sub, _add_json)
    cli_telegram.register(sub, _add_json)

    rot = sub.add_parser("rotate-keys", help="re-encrypt every sealed value under a new master key")
    rot.add_argument("--batch", type=int, default=500, help="rows per transaction")
    rot.add_argument(
        "--pause", type=float, default=0.0, help="seconds to rest between batches on a busy store"
    )
    rot.set_defaults(handler=cmd_rotate)
    return p


def cmd_init(args: argparse.Namespace) -> int:
    from engine.bootstrap import init_data_dir

    settings = load_settings(args, allow_missing=True)
    res = init_data_dir(settings, force=args.force)
    print(f"data directory: {res.data_dir}")
    print(f"config: {res.config_path}{' (created)' if res.created_config else ' (kept)'}")
    if res.key_path:
        print(
            f"master key: {res.key_path}{' (created, mode 0600: back it up)' if res.created_key else ' (kept)'}"
        )
    else:
        print("master key: from SYSALERT_MASTER_KEY")
    if res.seeded:
        print(f"added local targets: {', '.join(res.seeded)}")
    print(
        "next: `sysalert target add tcp://host:port --name NAME`, then `sysalert` for the console"
    )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from engine.rotation import rotate_keys

    settings = load_settings(args)
    report = rotate_keys(
        settings, batch=args.batch, pause=args.pause, progress=lambda m: print(m, file=sys.stderr)
    )
    print(
        f"rotated: {report['resealed']} sealed values and {report['fingerprints']} fingerprints re-keyed"
    )
    return 0


def load_settings(args: argparse.Namespace, allow_missing: bool = False):  # type: ignore[no-untyped-def]
    """The settings every command runs with; `allow_missing` only for `init`, which creates the
    file that --config or SYSALERT_CONFIG names."""
    from engine.config import load_settings as _load

    return _load(args.config, args.data_dir, creating=allow_missing)


def _configure_logging(args: argparse.Namespace, daemon: bool) -> None:
    from engine.privacy import configure_logging

    level = (
        "DEBUG"
        if args.debug
        else os.environ.get("SYSALERT_LOG_LEVEL", "WARNING" if not daemon else "INFO")
    )
    configure_logging(level, sys.stderr, journald=daemon and bool(os.environ.get("JOURNAL_STREAM")))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args, args.daemon)
    try:
        if args.daemon:
            from sysalert_tui.daemon import run_daemon

            return run_daemon(args)
        if args.command is None:
            from sysalert_tui.console import run_console

            return run_console(args)
        return int(args.handler(args))
    except SysAlertError as exc:
        if args.debug:
            log.exception("failed")
        print(f"sysalert: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: say so in one line, traceback only with --debug
        if args.debug:
            raise
        from engine.privacy import redact

        log.debug("internal error", exc_info=True)
        print(
            f"sysalert: internal error: {type(exc).__name__}: {redact(str(exc))} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1
