"""A rotated key ring travels to the other hosts of a shared store, sealed under the old keys.

`sysalert rotate-keys` on one host writes the new ring (every master key, newest first) into
`meta`, once sealed under each key of the old ring (`key_handoff:<old key id>`), and names the new
current key (`key_current`). Another engine that meets the new key id, hears of the rotation over
NOTIFY or sees `key_current` change opens the row of a key it has, writes its own key file
(atomically, 0600) and adopts the ring: a host that had the old key gets the new one, as anyone
holding the old key and the database could. After a suspected key leak rotate with
`--no-handoff`: no row is written, the old rows go, and the other hosts need the key file copied
by hand (their /health says so). The rows live in `meta.value` (base64 of a sealed blob), not in
the sealed columns a rotation re-seals: they must stay under the old keys.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from engine.core.errors import KeyError_
from engine.security.crypto import KeyRing

PREFIX = "key_handoff:"
CURRENT = "key_current"
AT = "key_at:"


def _seal(old: KeyRing, masters: list[bytes], old_kid: str) -> str:
    body = json.dumps({"keys": [base64.b64encode(m).decode() for m in masters]})
    return base64.b64encode(old.seal(body, "meta", "key_handoff", old_kid)).decode()


def write(conn: Connection, old_masters: list[bytes], masters: list[bytes], handoff: bool) -> None:
    """Replace the hand-off rows: the ring `masters` under each key of `old_masters` (none
    without `handoff`), and name its current key."""
    conn.execute(text("DELETE FROM meta WHERE key LIKE :p"), {"p": PREFIX + "%"})
    new = KeyRing.from_masters(masters)
    if handoff:
        for m in old_masters:
            one = KeyRing.from_masters([m])
            kid = one.current.key_id.hex()
            conn.execute(
                text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
                {"k": PREFIX + kid, "v": _seal(one, masters, kid)},
            )
    conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": CURRENT})
    conn.execute(
        text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
        {"k": CURRENT, "v": new.current.key_id.hex()},
    )


def current(conn: Connection) -> str | None:
    """The key id the last rotation made current (hex), None before any."""
    row = conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": CURRENT}).first()
    return str(row[0]) if row and row[0] else None


def open_for(conn: Connection, ring: KeyRing) -> list[bytes] | None:
    """The master keys of the newest hand-off a key of `ring` opens, None when there is none."""
    for k in ring.all_keys:
        kid = k.key_id.hex()
        row = conn.execute(
            text("SELECT value FROM meta WHERE key = :k"), {"k": PREFIX + kid}
        ).first()
        if not row or not row[0]:
            continue
        try:
            body = ring.open(base64.b64decode(row[0]), "meta", "key_handoff", kid)
            return [base64.b64decode(x) for x in json.loads(body)["keys"]]
        except (KeyError_, ValueError, KeyError):  # a damaged row: try the next key
            continue
    return None


def report(store: Any, engine_id: str) -> None:
    """This engine holds the current key of its ring now (`key_at:<id>`): a rotation waits for
    every live engine to say so before it re-seals a row."""
    kid = store.keys.current.key_id.hex()
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": AT + engine_id})
        conn.execute(
            text("INSERT INTO meta (key, value) VALUES (:k, :v)"), {"k": AT + engine_id, "v": kid}
        )


def lagging(store: Any, kid: str, lease_s: float) -> list[str]:
    """The live engines (PostgreSQL) that have not said they hold key `kid`."""
    with store.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT e.id FROM engines e LEFT JOIN meta m ON m.key = :at || e.id"
                " WHERE NOT e.stopped AND e.last_seen > EXTRACT(EPOCH FROM clock_timestamp())"
                " - :age AND (m.value IS NULL OR m.value <> :kid) ORDER BY e.id"
            ),
            {"at": AT, "age": 2 * lease_s, "kid": kid},
        ).all()
    return [str(r[0]) for r in rows]


def forget(conn: Connection, engine_ids: list[str]) -> None:
    """Forgotten engines' `key_at` rows go with them."""
    for eid in engine_ids:
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": AT + eid})
