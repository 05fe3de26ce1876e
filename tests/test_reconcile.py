"""Declared targets ([[targets]] in config) are reconciled: added, updated in place, removed."""

from __future__ import annotations

from pathlib import Path

from engine.commands import Commands
from engine.config.settings import load_settings
from engine.runtime.bootstrap import open_store
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file


def _settings(data_dir: Path, body: str):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text("[engine]\nseed_local_targets = false\n" + body)
    return load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})


def test_reconcile_adds_updates_and_removes(tmp_path: Path) -> None:
    d = tmp_path / "data"
    s1 = _settings(
        d,
        '[[targets]]\nspec = "tcp://10.0.0.1:22"\nname = "ssh"\n'
        '[[targets]]\nspec = "tcp://10.0.0.2:5432"\nname = "db"\ninterval = "1m"\n',
    )
    write_key_file(d / KEY_FILE_NAME, [new_master_key()])
    store = open_store(s1)
    try:
        manual = Commands(store, s1).add_target("tcp://10.0.0.9:80", name="manual")
        assert Commands(store, s1).reconcile_declared() == {"added": 2, "updated": 0, "removed": 0}
        assert Commands(store, s1).reconcile_declared() == {"added": 0, "updated": 0, "removed": 0}
        ssh_id = Commands(store, s1).get_target("ssh").id
        s2 = _settings(d, '[[targets]]\nspec = "tcp://10.0.0.1:2222"\nname = "ssh"\n')
        assert Commands(store, s2).reconcile_declared() == {"added": 0, "updated": 1, "removed": 1}
        ssh = Commands(store, s2).get_target("ssh")
        assert ssh.id == ssh_id and ssh.spec == "tcp://10.0.0.1:2222" and ssh.declared
        names = {t.name for t in Commands(store, s2).list_targets()}
        assert names == {"ssh", "manual"}  # the target added by hand is never touched
        assert Commands(store, s2).get_target(manual.id).declared is False
    finally:
        store.close()


def test_reconcile_records_config_and_rewrites_nothing_unchanged(tmp_path: Path) -> None:
    """Every start and SIGHUP reconciles: a parent that did not change is not written again, and
    what reconcile does write is recorded as the config's doing, not an operator's."""
    d = tmp_path / "data"
    s = _settings(
        d,
        '[[targets]]\nspec = "tcp://10.0.0.1:22"\nname = "router"\n'
        '[[targets]]\nspec = "tcp://10.0.0.2:22"\nname = "host"\ndepends_on = "router"\n',
    )
    write_key_file(d / KEY_FILE_NAME, [new_master_key()])
    store = open_store(s)
    try:
        cmds = Commands(store, s)
        cmds.reconcile_declared()
        first = cmds.history(kind="target")
        assert {h["actor"] for h in first} == {"config"}
        cmds.reconcile_declared()  # a restart
        assert len(cmds.history(kind="target")) == len(first)
        assert cmds.get_target(cmds.get_target("host").parent_id).name == "router"
    finally:
        store.close()
