"""The console fixture world with long lists: 100,000 more history events, 20,000 more incidents
and 5,000 more maintenance windows, written once per test process in a few bulk transactions
(sealed as the store seals them) and copied for each test (tests/test_console_lists_scale.py,
tests/snapshots/test_list_snapshots.py). Everything is fixed: ids, times, texts.

The bulk rows are older than the fixture's own (its newest events and incidents stay on top) and
the windows all start in the future, so no target is in maintenance because of them.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from engine.runtime.facade import EmbeddedBackend
from engine.store.models import AuditEntry, Incident, MaintenanceWindow
from engine.store.store import Store
from tests.console_fixture import (
    FIXED_NOW,
    TARGETS,
    World,
    fixture_settings,
    make_engine,
    open_fixture_store,
    template_dir,
)

EVENTS = 100_000
INCIDENTS = 20_000
WINDOWS = 5_000
FIRING = 700  # of the bulk incidents; then ACKED acknowledged, and the rest resolved
ACKED = 300
ACTIONS = ("state.down", "state.up", "target.edit", "incident.ack")


def _names() -> list[tuple[str, str]]:
    return [(t[0], t[2]) for t in TARGETS]


def _events(store: Store) -> list[dict[str, Any]]:
    """Event i is 10 s older than event i-1, starting an hour before the fixture's oldest."""
    targets = _names()
    refs = {tid: store.ref("target", tid) for tid, _ in targets}
    out = []
    for i in range(EVENTS):
        ts = FIXED_NOW - 10_000 - 10 * i
        action = ACTIONS[i % len(ACTIONS)]
        tid, _ = targets[i % len(targets)]
        key = f"{ts:.6f}:{action}"
        out.append(
            {
                "ts": ts,
                "action": action,
                "object_ref": refs[tid],
                "actor_s": store.seal("audit", "actor_s", key, "engine" if i % 3 else "ops"),
                "detail_s": store.seal("audit", "detail_s", key, f"bulk event {i:06d}"),
            }
        )
    return out


def _incidents(store: Store) -> list[dict[str, Any]]:
    """Incident `ib000000`...: newest first, an hour older each; the first FIRING firing."""
    targets = _names()
    out = []
    for i in range(INCIDENTS):
        iid = f"ib{i:06d}"
        tid, name = targets[i % len(targets)]
        state = "firing" if i < FIRING else "acknowledged" if i < FIRING + ACKED else "resolved"
        opened = FIXED_NOW - 20_000 - 600 * i
        out.append(
            {
                "id": iid,
                "dedup_key": f"bulk:{i}",
                "target_id": tid,
                "kind": "down",
                "state": state,
                "severity": ("high", "medium", "low")[i % 3],
                "opened_at": opened,
                "resolved_at": opened + 300 if state == "resolved" else None,
                "summary_s": store.seal("incidents", "summary_s", iid, f"{name} bulk {i:06d}"),
                "escalation_level": 1,
            }
        )
    return out


def _windows(store: Store) -> list[dict[str, Any]]:
    """Window `wb00000`...: one-off, an hour each, starting a day ahead and a minute apart."""
    targets = _names()
    out = []
    for i in range(WINDOWS):
        wid = f"wb{i:05d}"
        tid, _ = targets[i % len(targets)]
        starts = FIXED_NOW + 86400 + 60 * i
        out.append(
            {
                "id": wid,
                "scope": "target",
                "target_id": tid,
                "kind": "oneoff",
                "starts_at": starts,
                "ends_at": starts + 3600,
                "reason_s": store.seal("maintenance", "reason_s", wid, f"planned {i:05d}"),
                "created_at": FIXED_NOW - 3600,
            }
        )
    return out


@functools.cache
def lists_template() -> Path:
    base = Path(tempfile.mkdtemp(prefix="sysalert-lists-"))
    atexit.register(shutil.rmtree, base, True)
    d = base / "data"
    shutil.copytree(template_dir(), d)
    store = open_fixture_store(fixture_settings(d))
    with store.engine.begin() as conn:
        for model, rows in (
            (AuditEntry, _events(store)),
            (Incident, _incidents(store)),
            (MaintenanceWindow, _windows(store)),
        ):
            table = model.__table__  # type: ignore[attr-defined]
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[i : i + 5000])
    store.close()
    return d


@contextmanager
def lists_world(tmp_path: Path) -> Iterator[World]:
    d = tmp_path / "data"
    shutil.copytree(lists_template(), d)
    settings = fixture_settings(d)
    store = open_fixture_store(settings)
    engine = make_engine(settings, store)
    try:
        yield World(settings, store, engine, EmbeddedBackend(engine))
    finally:
        store.close()
