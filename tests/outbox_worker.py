"""A real process that runs the engine's outbox dispatcher on a store, for the crash tests.

    python -m tests.outbox_worker --lease 1.0 --deadline 15

Settings, key and store come from SYSALERT_DATA_DIR / SYSALERT_DATABASE_URL as for the daemon. It
delivers until no row is pending or being sent, then exits 0 (3 when the deadline passes first).
With SYSALERT_FAULT=before-send or after-send it dies at that point (exit 70), as a power cut would.
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio
from sqlalchemy import func, select

from engine.config.settings import load_settings
from engine.notify import outbox
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.store.models import Notification


def unfinished(store) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        q = select(func.count()).where(Notification.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
        return int(s.exec(q).scalar_one())


async def deliver(engine: Engine, deadline: float) -> int:
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.alerting.dispatcher.run)
        while time.monotonic() < deadline:
            await anyio.sleep(0.05)
            if await anyio.to_thread.run_sync(unfinished, engine.store) == 0:
                tg.cancel_scope.cancel()
                return 0
        tg.cancel_scope.cancel()
    return 3


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lease", type=float, default=outbox.LEASE_S)
    p.add_argument("--deadline", type=float, default=15.0)
    args = p.parse_args()
    outbox.LEASE_S = args.lease  # a short lease so the test need not wait a minute
    settings = load_settings()
    store = open_store(settings)
    try:
        engine = Engine(settings, store, mode="worker")
        return anyio.run(deliver, engine, time.monotonic() + args.deadline)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
