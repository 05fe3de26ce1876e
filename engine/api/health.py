"""What /health says, in one place: the API serves it and the watchdog pings by it.

Each part (engine loop, store, housekeeping, every supervised task, Telegram) is ok or not; the
whole is "failing" (503) when any part fails, and `failing` names them. A part's error is a class
name or a sentence without addresses: /health is readable without a key.
"""

from __future__ import annotations

import time
from typing import Any

from engine.api.ports import HealthSource
from engine.store.db import check_writable, describe_error


def health_report(engine: HealthSource) -> dict[str, Any]:
    """Each part's state; status "failing" when any part fails (any thread)."""
    now = time.time()
    parts: dict[str, Any] = {}
    loop_age = now - engine.loop_heartbeat if engine.loop_heartbeat else None
    parts["engine"] = {
        "ok": engine.running and (loop_age is None or loop_age < 10),
        "loop_age_s": loop_age,
    }
    lock_error = engine.store_lock_error
    try:
        check_writable(engine.store.engine)
        error = engine.store_error or lock_error
        parts["store"] = {"ok": error is None, "error": error}
    except Exception as exc:
        parts["store"] = {"ok": False, "error": describe_error(exc)}
    hk_age = now - engine.housekeeping_heartbeat if engine.housekeeping_heartbeat else None
    limit = engine.settings.retention.housekeeping_interval * 2 + 60
    hk_error = engine.housekeeping_error
    parts["housekeeping"] = {
        "ok": hk_age is not None and hk_age < limit and hk_error is None,
        "age_s": hk_age,
        **({"error": hk_error} if hk_error else {}),
    }
    missing, note = (
        getattr(engine.store, "key_missing", None),
        getattr(engine.store, "key_note", None),
    )
    if missing or note:  # a rotation on another host of a shared store
        parts["keys"] = (
            {
                "ok": False,
                "error": f"store re-keyed with key id {missing} which this engine lacks:"
                " copy the key file from a host that has it",
            }
            if missing
            else {"ok": True, "note": note}
        )
    cluster = engine.cluster
    if cluster is not None:
        status = cluster.status()
        parts["cluster"] = {"ok": status["error"] is None, **status}
        if not cluster.leader:  # retention is a store-wide duty: the leading engine runs it
            parts["housekeeping"] = {"ok": True, "age_s": None, "runs_on": "the leader"}
    tasks = engine.supervisor.report()
    failing_tasks = [name for name, t in tasks.items() if not t["ok"]]
    parts["tasks"] = {
        "ok": not failing_tasks,
        "failing": {name: tasks[name]["error"] for name in failing_tasks},
        "restarts": sum(t["restarts"] for t in tasks.values()),
    }
    tg = engine.telegram
    parts["telegram"] = {
        "ok": tg.healthy and "telegram" not in failing_tasks,
        "state": tg.health_text,
    }
    if engine.watchdog.configured:
        parts["watchdog"] = (
            engine.watchdog.health()
        )  # always ok: its own trouble is detail, not a 503
    failing = [k for k, p in parts.items() if not p["ok"] and k != "tasks"]
    failing += [t for t in failing_tasks if t not in failing]
    return {
        "status": "ok" if not failing else "failing",
        "failing": failing,
        "parts": parts,
        "mode": engine.mode,
        "targets": len(engine.targets),
    }
