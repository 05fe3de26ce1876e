"""Faults for tests: a real process dies at a named spot, or a named task raises.

SYSALERT_FAULT=<name>: the process exits hard at crash_point(name), as a power cut would.
SYSALERT_FAULT=raise:<task>:<n>: the supervised task <task> raises at its first <n> starts (the
supervisor calls injected_raise; several may be given, separated by commas). Nothing else reads it.
"""

from __future__ import annotations

import os

_raised: dict[str, int] = {}


class InjectedFault(RuntimeError):
    """Raised on purpose by SYSALERT_FAULT=raise:<task>:<n>."""


def crash_point(name: str) -> None:
    if os.environ.get("SYSALERT_FAULT") == name:
        os._exit(70)


def injected_raise(task: str) -> None:
    """Raise InjectedFault while `task` has raised fewer times than SYSALERT_FAULT asks."""
    spec = os.environ.get("SYSALERT_FAULT", "")
    if not spec.startswith("raise:"):
        return
    for part in spec.split(","):
        kind, _, rest = part.partition(":")
        name, _, count = rest.rpartition(":")
        done = _raised.get(task, 0)
        if kind == "raise" and name == task and count.isdigit() and done < int(count):
            _raised[task] = done + 1
            raise InjectedFault(f"injected fault {done + 1} of {count} in task {task}")
