"""Start-up shared by the CLI, the console and the daemon: settings, key ring, store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from engine.config.settings import Settings
from engine.security.crypto import (
    ENV_MASTER_KEY,
    KEY_FILE_NAME,
    load_key_ring,
    new_master_key,
    write_key_file,
)
from engine.store.key_canary import check_key_matches
from engine.store.store import Store


def example_config_text() -> str:
    """The documented example config (packaged copy of config.toml.example)."""
    return resources.files("engine.config").joinpath("example.toml").read_text(encoding="utf-8")


@dataclass
class InitResult:
    data_dir: Path
    config_path: Path
    key_path: Path | None
    created_key: bool
    created_config: bool
    seeded: list[str]


def init_data_dir(settings: Settings, force: bool = False) -> InitResult:
    """Create data dir (0700), config, 0600 master key and an empty store. Idempotent unless force."""
    ddir = settings.data_dir
    ddir.mkdir(parents=True, exist_ok=True)
    os.chmod(ddir, 0o700)
    cfg = settings.config_path or ddir / "config.toml"
    created_config = False
    if force or not cfg.exists():
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(example_config_text(), encoding="utf-8")
        created_config = True
    key_path: Path | None = None
    created_key = False
    if not os.environ.get(ENV_MASTER_KEY):
        key_path = ddir / KEY_FILE_NAME
        # --force rewrites the config only: an existing master key is always kept.
        if not key_path.exists():
            write_key_file(key_path, [new_master_key()])
            created_key = True
    store = open_store(settings)
    seeded: list[str] = []
    try:
        if settings.engine.seed_local_targets:
            from engine.commands import Commands

            seeded = Commands(store, settings).seed_local_targets()
    finally:
        store.close()
    return InitResult(ddir, cfg, key_path, created_key, created_config, seeded)


def open_store(settings: Settings) -> Store:
    """Open and migrate the store with the key ring; clear errors for a missing key."""
    keys = load_key_ring(settings.data_dir)
    store = Store.open(settings.database_url, keys)
    # `sysalert rotate-keys` may run beside this store, or have run on another host of a shared
    # store while this one was down: watched first, so the canary check adopts its hand-off.
    store.watch_key_file(settings.data_dir)
    check_key_matches(store)
    return store
