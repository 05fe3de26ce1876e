"""The key canary: a value sealed under the store's key at creation, opened at every start, so a
wrong master key is caught with a sentence before the first sealed read."""

from __future__ import annotations

from sqlalchemy import text

from engine.core.errors import KeyError_
from engine.store.store import Store


def check_key_matches(store: Store) -> None:
    """A wrong master key is caught at start with a sentence, not on the first sealed read."""
    canary_key = "key_canary"
    with store.engine.begin() as conn:
        row = conn.execute(
            text("SELECT value_s FROM meta WHERE key = :k"), {"k": canary_key}
        ).first()
        if row is None or row[0] is None:
            blob = store.seal("meta", "value_s", canary_key, "sysalert")
            conn.execute(
                text("INSERT INTO meta (key, value_s) VALUES (:k, :v)"),
                {"k": canary_key, "v": blob},
            )
            return
    try:
        store.open_("meta", "value_s", canary_key, row[0])
    except KeyError_:
        raise KeyError_(
            "the master key does not open this store",
            "use the key file or SYSALERT_MASTER_KEY the store was created with",
        ) from None
