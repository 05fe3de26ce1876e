"""A real daemon with a public status page, for the status page and badge tests (HTTP and
headless Chromium): listed targets, an unlisted one whose name must never appear, 90 days of
hourly roll-ups written through the store's own ResultWriter, an incident and maintenance windows.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.daemon_harness import Daemon, cli, init_store, start_daemon

HIDDEN = "hidden-quokka-db"
PAGE = """
[[status_pages]]
slug = "pub"
title = "Checks <status> & more"
targets = ["public-web"]
tags = ["shown"]

[[status_pages]]
slug = "other"
title = "Other page"
targets = ["hidden-quokka-db"]
"""
# Written into the store before the daemon starts: (days ago, checks, ok) for public-web.
HISTORY = [(1, 100, 99), (2, 50, 50), (40, 24, 12), (89, 10, 10)]


@dataclass
class StatusWorld:
    daemon: Daemon
    data_dir: Path
    ids: dict[str, str]

    @property
    def base(self) -> str:
        return self.daemon.base_url


def _add(d: Path, *argv: str) -> str:
    rc, out, err = cli(d, "target", "add", *argv, "--json")
    assert rc == 0, err
    import json

    return str(json.loads(out)["id"])


def _history(d: Path, ids: dict[str, str], now: float) -> None:
    """Roll-ups of past days, through the writer the engine uses (rows and hourly sums)."""
    from engine.config.settings import load_settings
    from engine.core.probe import ProbeResult
    from engine.runtime.bootstrap import open_store
    from engine.store.history import PendingResult, ResultWriter

    store = open_store(load_settings(d / "config.toml", d, env={}))
    try:
        writer = ResultWriter(store)
        batch = []
        for days_ago, checks, ok in HISTORY:
            base = (int(now // 86400) - days_ago) * 86400 + 3600.0
            for i in range(checks):
                r = ProbeResult(
                    ok=i < ok, latency_ms=40.0, error_class=None if i < ok else "refused"
                )
                batch.append(PendingResult(ids["public-web"], base + i, r))
        for i in range(30):  # the hidden target has history too: none of it may show
            batch.append(PendingResult(ids[HIDDEN], now - 86400 - i, ProbeResult(ok=False)))
        writer.write(batch, rollups=True)
        writer.close()
    finally:
        store.close()


@contextmanager
def status_world(tmp: Path) -> Iterator[StatusWorld]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)  # connects succeed from the backlog: a target that is up
    up = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused, a target that is down
    down = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    d = tmp / "data"
    init_store(d, PAGE)
    ids = {
        "public-web": _add(d, up, "--name", "public-web", "--interval", "1s"),
        "tagged-api": _add(
            d,
            down,
            "--name",
            "tagged-api",
            "--tag",
            "shown",
            "--interval",
            "0.5s",
            "--down-after",
            "1",
        ),
        HIDDEN: _add(
            d, down, "--name", HIDDEN, "--tag", "secret", "--interval", "0.5s", "--down-after", "1"
        ),
    }
    now = time.time()
    _history(d, ids, now)
    for argv in (
        ("maintenance", "on", "public-web", "--schedule", "sun 02:00-03:00 UTC", "--reason", "db"),
        (
            "maintenance",
            "on",
            "tag:secret",
            "--schedule",
            "sat 04:00-05:00 UTC",
            "--reason",
            "quokka",
        ),
    ):
        rc, _, err = cli(d, *argv)
        assert rc == 0, err
    daemon = start_daemon(d)
    try:
        yield StatusWorld(daemon, d, ids)
    finally:
        daemon.stop()
        listener.close()
        closed.close()
