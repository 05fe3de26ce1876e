"""`sysalert`: argument parsing and dispatch. User mistakes are one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from engine import __version__
from engine.core.errors import SysAlertError

log = logging.getLogger("sysalert")

Handler = Callable[[argparse.Namespace], int]


# A value that starts with a dash and a digit is a value, not an option: argparse reads only bare
# numbers so (`-5`), and took `--interval -5s` for a missing value followed by an unknown option.
_NEGATIVE_VALUE = re.compile(r"^-\.?\d[\w.:]*$")


class Parser(argparse.ArgumentParser):
    """argparse with errors that fit on one line and name the command they belong to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """A subcommand refuses an argument it does not know itself, so the message names it
        (`sysalert target add: unrecognized arguments`), not the top-level command."""
        ns, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._suggest(extras)}")
        return ns, extras

    def _suggest(self, extras: list[str]) -> str:
        flags = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        for extra in extras:
            close = difflib.get_close_matches(extra.split("=", 1)[0], flags, n=1)
            if close:
                return f" (did you mean {close[0]}?)"
        return ""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    from sysalert_tui import (
        cli_alerts,
        cli_apikeys,
        cli_bench,
        cli_cluster,
        cli_history,
        cli_ping,
        cli_report,
        cli_rules,
        cli_subscribers,
        cli_targets,
        cli_telegram,
        web,
    )

    p = Parser(
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
    cli_report.register(sub, _add_json)
    cli_subscribers.register(sub, _add_json)
    cli_rules.register(sub, _add_json)
    cli_bench.register(sub, _add_json)
    cli_apikeys.register(sub, _add_json)
    cli_telegram.register(sub, _add_json)
    web.register(sub)
    cli_cluster.register(sub, _add_json)

    rot = sub.add_parser("rotate-keys", help="re-encrypt every sealed value under a new master key")
    rot.add_argument("--batch", type=int, default=500, help="rows per transaction")
    rot.add_argument(
        "--pause", type=float, default=0.0, help="seconds to rest between batches on a busy store"
    )
    rot.add_argument(
        "--no-handoff",
        action="store_true",
        help="after a suspected key leak: leave no copy of the new key for the engines on other"
        " hosts (copy the key file to them by hand)",
    )
    rot.set_defaults(handler=cmd_rotate)
    return p


def cmd_init(args: argparse.Namespace) -> int:
    from engine.runtime.bootstrap import init_data_dir

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
        from engine.commands.seeding import seeded_note

        print(seeded_note(res.seeded))
    print(
        "next: `sysalert target add tcp://host:port --name NAME`, then `sysalert` for the console"
    )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from engine.api.client import connect_if_running
    from engine.store.rekey import rotate_keys

    settings = load_settings(args)
    daemon = connect_if_running(settings)  # the daemon on this data directory's socket, if any
    try:
        report = rotate_keys(
            settings,
            batch=args.batch,
            pause=args.pause,
            progress=lambda m: print(m, file=sys.stderr),
            adopt=None if daemon is None else lambda ring: _daemon_adopts(daemon, ring),
            handoff=not args.no_handoff,
        )
    finally:
        if daemon is not None:
            daemon.close()
    print(
        f"rotated: {report['resealed']} sealed values and {report['fingerprints']} fingerprints re-keyed"
    )
    return 0


def _daemon_adopts(daemon: Any, ring: Any) -> None:
    """Before any row is re-sealed, the running daemon takes the new ring, so it neither misses a
    name nor fails to read a contact meanwhile. A daemon that does not answer adopts it by itself
    (it reads the key file again when it meets the new key id or sees the file change)."""

    try:
        got = daemon.adopt_keys()
    except SysAlertError as exc:
        print(
            f"the running daemon was not told ({exc.message}); it adopts the new key by itself",
            file=sys.stderr,
        )
        return
    if got.get("key_id") != ring.current.key_id.hex():
        raise SysAlertError(
            "the running daemon cannot use the new key (its SYSALERT_MASTER_KEY lacks it)",
            "restart it with SYSALERT_MASTER_KEY=NEW,OLD, then run `sysalert rotate-keys` again",
        )
    print("the running daemon adopted the new key", file=sys.stderr)


def load_settings(args: argparse.Namespace, allow_missing: bool = False):  # type: ignore[no-untyped-def]
    """The settings every command runs with; `allow_missing` only for `init`, which creates the
    file that --config or SYSALERT_CONFIG names."""
    from engine.config.settings import load_settings as _load

    return _load(args.config, args.data_dir, creating=allow_missing, check_target=_check_declared)


def _check_declared(settings: Any, decl: Any) -> object:
    """A [[targets]] entry checked as `target add` would; the command layer is imported only
    when the config declares targets (a second of start-up `status` need not pay)."""
    from engine.commands.targets import check_declared

    return check_declared(settings, decl)


def _configure_logging(args: argparse.Namespace, daemon: bool) -> None:
    from engine.security.privacy import configure_logging

    level = (
        "DEBUG"
        if args.debug
        else os.environ.get("SYSALERT_LOG_LEVEL", "WARNING" if not daemon else "INFO")
    )
    configure_logging(level, sys.stderr, journald=daemon and bool(os.environ.get("JOURNAL_STREAM")))


def _not_utf8(args: argparse.Namespace) -> str | None:
    """The first text argument that was not UTF-8 on the command line, described. Python keeps
    such bytes as lone surrogates, which no name, id or spec holds and no store can encode; a
    path (--config, import FILE) is a Path and may hold any bytes."""
    for dest, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, str):
                continue
            for i, c in enumerate(v):
                if 0xD800 <= ord(c) < 0xE000:
                    byte = f"byte 0x{ord(c) - 0xDC00:02X}" if ord(c) >= 0xDC80 else "a surrogate"
                    return f"{dest} is not valid UTF-8 text ({byte} at position {i + 1})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args, args.daemon)
    bad = _not_utf8(args)
    if bad is not None:
        print(f"sysalert: {bad}; type it as UTF-8 text", file=sys.stderr)
        return 2
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
        from engine.security.privacy import redact

        log.debug("internal error", exc_info=True)
        print(
            f"sysalert: internal error: {type(exc).__name__}: {redact(str(exc))} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1
