"""`sysalert rotate-keys`: re-seal every sealed value and re-key every fingerprint, in batches.

Safe to kill at any point: the new key is written to the key file (old keys kept, so every value
still opens) before any row changes, each batch is one transaction, and a second run finds the rows
still under an old key and finishes them. A running daemon is asked (over its API) to adopt the new
ring before any row changes; one that cannot be asked adopts it by itself when it meets the new key
id or sees the key file change, and a later pass catches rows it wrote under the old key meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select, text, update

from engine.config.settings import Settings
from engine.core.errors import SysAlertError
from engine.security.crypto import KeyRing, load_masters
from engine.security.rotation import add_fresh_key, ring_in_environment, ring_on_file
from engine.store.models import FINGERPRINTS, SEALED_COLUMNS, aad_row
from engine.store.store import Store

MARKER = "rotation_in_progress"


def _prepare_ring(settings: Settings, store_url: str) -> KeyRing:
    """Return the ring to rotate to: a fresh key first, unless a killed run already added one."""
    ring = ring_in_environment(settings.data_dir)
    if ring is not None:
        return ring
    ring = ring_on_file(settings.data_dir)
    probe = Store.open(store_url, ring)
    try:
        with probe.engine.begin() as conn:
            row = conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": MARKER}).first()
        if row and row[0] == ring.current.key_id.hex():
            return ring  # resume the killed run with the key it created
        ring = add_fresh_key(settings.data_dir)
        with probe.engine.begin() as conn:
            conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": MARKER})
            conn.execute(
                text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
                {"k": MARKER, "v": ring.current.key_id.hex()},
            )
        return ring
    finally:
        probe.close()


def _fp_sources(model: Any) -> list[tuple[str, str, str]]:
    return [(fp, src, purpose) for m, fp, src, purpose in FINGERPRINTS if m is model]


def _rotate_table(
    store: Store, model: Any, columns: list[str], batch: int, pause: float
) -> tuple[int, int]:
    table = model.__table__
    pk = list(table.primary_key.columns)
    kid = store.keys.current.key_id
    stale = [func.substr(table.c[c], 3, 4) != kid for c in columns]
    resealed = fps = 0
    while True:
        with store.engine.begin() as conn:
            rows = conn.execute(select(table).where(or_(*stale)).limit(batch)).mappings().all()
            if not rows:
                return resealed, fps
            for row in rows:
                obj = type("Row", (), dict(row))
                rid = aad_row(table.name, obj)
                values: dict[str, Any] = {}
                plain: dict[str, str] = {}
                n_sealed = n_fps = 0
                for c in columns:
                    blob = row[c]
                    if blob is None:
                        continue
                    pt = store.keys.open(bytes(blob), table.name, c, rid)
                    plain[c] = pt
                    if bytes(blob)[2:6] != kid:
                        values[c] = store.keys.seal(pt, table.name, c, rid)
                        n_sealed += 1
                for fp_col, src, purpose in _fp_sources(model):
                    if src in plain:
                        if fp_col == "tag_fps":
                            values[fp_col] = " ".join(
                                store.fp(purpose, t) for t in json.loads(plain[src])
                            )
                        else:
                            values[fp_col] = store.fp(purpose, plain[src])
                        n_fps += 1
                if values:
                    # Only if no other process rewrote the row since we read it: a concurrent edit
                    # wins, and the row is picked up again below if it is still under an old key.
                    unchanged = [
                        table.c[c].is_(None) if row[c] is None else table.c[c] == row[c]
                        for c in columns
                    ]
                    res = conn.execute(
                        update(table)
                        .where(*[c == row[c.name] for c in pk], *unchanged)
                        .values(values)
                    )
                    if res.rowcount:
                        resealed += n_sealed
                        fps += n_fps
        if pause:
            time.sleep(pause)


def rotate_keys(
    settings: Settings,
    batch: int = 500,
    pause: float = 0.0,
    progress: Callable[[str], None] | None = None,
    adopt: Callable[[KeyRing], None] | None = None,
    handoff: bool = True,
    wait: float = 20.0,
) -> dict[str, int]:
    """Rotate; returns counts. Idempotent: run it again after a crash and it finishes.

    `adopt(ring)` runs once the new key is in the key file and before any row changes: the CLI
    uses it to have a running daemon take the new ring (it may raise to stop here; a later run
    resumes with the same key). `handoff` leaves the new ring in the store sealed under the old
    keys, for the engines on other hosts (engine.store.key_handoff); they are waited for up to
    `wait` seconds before any row changes."""
    if batch < 1:
        raise SysAlertError("--batch must be at least 1", "e.g. --batch 500")
    ring = _prepare_ring(settings, settings.database_url)
    if adopt is not None:
        adopt(ring)
    store = Store.open(settings.database_url, ring)
    say = progress or (lambda _m: None)
    total_sealed = total_fps = 0
    try:
        _hand_off(store, settings, ring, handoff, say, wait)
        by_model: dict[Any, list[str]] = {}
        for model, col in SEALED_COLUMNS:
            by_model.setdefault(model, []).append(col)
        for _pass in range(3):  # a later pass picks up rows another process wrote meanwhile
            pass_sealed = 0
            for model, cols in by_model.items():
                n, f = _rotate_table(store, model, cols, batch, pause)
                pass_sealed += n
                total_fps += f
                if n:
                    say(f"{model.__tablename__}: {n} values re-sealed")
            total_sealed += pass_sealed
            if pass_sealed == 0:
                break
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": MARKER})
    finally:
        store.close()
    return {
        "resealed": total_sealed,
        "fingerprints": total_fps,
        "key_id": int(ring.current.key_id.hex(), 16),
    }


def _hand_off(
    store: Store,
    settings: Settings,
    ring: KeyRing,
    handoff: bool,
    say: Callable[[str], None],
    wait: float,
) -> None:
    """Before any row changes: the hand-off rows, a NOTIFY to the engines of a shared store, and
    a wait until every live engine says it holds the new key (or `wait` runs out: rows they
    write under the old key meanwhile are caught by the next pass)."""
    from engine.store import key_handoff

    masters = load_masters(settings.data_dir)
    kid = ring.current.key_id.hex()
    if KeyRing.from_masters(masters).key_ids != ring.key_ids:
        return  # the ring is not the one on file here: nothing to hand off
    with store.engine.begin() as conn:
        key_handoff.write(conn, masters[1:], masters, handoff)
    if not handoff:
        say(f"no hand-off: engines on other hosts need the key file copied by hand (key id {kid})")
    if store.sqlite:
        return
    from engine.store import cluster_live

    cluster_live.notify(
        store,
        cluster_live.channel_of(store),
        [json.dumps({"e": "rotate-keys", "keys": kid})],
    )
    if not handoff:
        return
    deadline = time.monotonic() + wait
    late: list[str] = []
    while time.monotonic() < deadline:
        late = key_handoff.lagging(store, kid, settings.engine.lease)
        if not late:
            say("every running engine holds the new key")
            return
        time.sleep(0.2)
    say(f"engines without the new key yet: {', '.join(late)} (a later pass re-seals their rows)")
