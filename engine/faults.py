"""Crash points for durability tests: a real process dies at a named spot, as a power cut would.

Set SYSALERT_FAULT=<name> and the process exits hard there. Nothing else reads it.
"""

from __future__ import annotations

import os


def crash_point(name: str) -> None:
    if os.environ.get("SYSALERT_FAULT") == name:
        os._exit(70)
