"""Key rotation's key-file half: the ring a rotation re-seals under, a fresh master key written
first (old keys kept, so every value still opens). Re-sealing the stored rows is the store's
(engine.store.rekey); this module touches no database."""

from __future__ import annotations

import os
from pathlib import Path

from engine.security.crypto import (
    ENV_MASTER_KEY,
    KEY_FILE_NAME,
    KeyRing,
    load_key_ring,
    new_master_key,
    read_key_file,
    write_key_file,
)


def ring_in_environment(data_dir: Path) -> KeyRing | None:
    """Operators who keep the key in the environment put the new key first ("NEW,OLD"): that
    ring, as it is; None when the key lives in the key file."""
    if os.environ.get(ENV_MASTER_KEY):
        return load_key_ring(data_dir)
    return None


def ring_on_file(data_dir: Path) -> KeyRing:
    """The ring the key file holds now (its first key is the current one)."""
    return KeyRing.from_masters(read_key_file(data_dir / KEY_FILE_NAME))


def add_fresh_key(data_dir: Path) -> KeyRing:
    """Write a new master key in front of the old ones and return the ring it makes current."""
    path = data_dir / KEY_FILE_NAME
    masters = [new_master_key(), *read_key_file(path)]
    write_key_file(path, masters)
    return KeyRing.from_masters(masters)
