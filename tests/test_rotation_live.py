"""`sysalert rotate-keys` while a daemon runs: the engine adopts the new key ring and keeps paging.

A real daemon subprocess on SQLite and on the local PostgreSQL, a real TCP service that dies, a real
webhook receiver, and a heartbeat pinged by the URL it was given before the rotation. Once the
rotation goes through the daemon's API (the CLI), once not at all (the daemon finds out by itself).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import select

from engine.commands import Commands
from engine.config.settings import Settings, load_settings
from engine.runtime.bootstrap import open_store
from engine.security.crypto import KEY_FILE_NAME, KeyRing, read_key_file
from engine.store import contacts as cstore
from engine.store import targets as tstore
from engine.store.models import Contact, Target
from engine.store.rekey import rotate_keys
from tests.conftest import free_port
from tests.daemon_harness import Daemon, init_store, start_daemon, sysalert, wait_for
from tests.test_channel_webhook import Receiver

pytestmark = pytest.mark.slow


def _listen(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def _extra_config(db_url: str) -> str:
    return "" if db_url.startswith("sqlite") else f'\n[general]\ndatabase_url = "{db_url}"\n'


def _settings(data_dir: Path) -> Settings:
    return load_settings(data_dir / "config.toml", data_dir, env={})


def _state(daemon: Daemon, name: str) -> str | None:
    r = daemon.unix().get(f"/api/v1/targets/{name}")
    return r.json()["state"] if r.status_code == 200 else None


def _sealed_key_ids(settings: Settings) -> set[bytes]:
    """The key ids of the sealed names the store holds now (targets and contacts)."""
    store = open_store(settings)
    try:
        with store.engine.connect() as conn:
            blobs = list(conn.execute(select(Target.__table__.c.name_s)).scalars())
            blobs += list(conn.execute(select(Contact.__table__.c.address_s)).scalars())
        return {KeyRing.key_id_of(bytes(b)) for b in blobs}
    finally:
        store.close()


class World:
    """A store with a webhook contact, a TCP target on a live service and a heartbeat; a daemon."""

    def __init__(self, tmp_path: Path, db_url: str, hooks: Receiver) -> None:
        self.data_dir = tmp_path / "data"
        self.hooks = hooks
        init_store(self.data_dir, _extra_config(db_url))
        self.port = free_port()
        self.service: socket.socket | None = _listen(self.port)
        r = sysalert(self.data_dir, "contacts", "add", "oncall", f"webhook:{hooks.url}/hook")
        assert r.returncode == 0, r.stderr
        r = sysalert(
            self.data_dir,
            "target",
            "add",
            f"tcp://127.0.0.1:{self.port}",
            "--name",
            "db-primary",
            "--interval",
            "1s",
            "--timeout",
            "1s",
        )
        assert r.returncode == 0, r.stderr
        r = sysalert(
            self.data_dir,
            "target",
            "add",
            "heartbeat://nightly-backup?every=1h&grace=5m",
            "--name",
            "nightly-backup",
            "--json",
        )
        assert r.returncode == 0, r.stderr
        self.ping_path = urlparse(json.loads(r.stdout)["ping_url"]).path
        self.daemon = start_daemon(self.data_dir)

    def ping(self) -> int:
        return httpx.post(self.daemon.base_url + self.ping_path, timeout=10).status_code

    def close(self) -> int:
        if self.service is not None:
            self.service.close()
        return self.daemon.stop()

    def check_after_rotation(self, new_kid: bytes) -> None:
        """What an operator relies on: names resolve, old ping URLs work, the next alert arrives."""
        assert _sealed_key_ids(_settings(self.data_dir)) == {new_kid}
        shown = sysalert(self.data_dir, "target", "show", "db-primary", "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == "db-primary"
        # The heartbeat's URL was handed to a cron job before the rotation: it still answers.
        assert self.ping() == 200
        assert wait_for(lambda: _state(self.daemon, "nightly-backup") == "up", timeout=10)
        assert not self.hooks.requests
        assert self.service is not None
        self.service.close()  # the service dies under the running daemon
        self.service = None
        assert wait_for(lambda: self.hooks.requests, timeout=30), (
            "no alert after the rotation: " + self.daemon.log()[-3000:]
        )
        body = self.hooks.requests[0].json()
        assert body["kind"] == "alert" and body["target_name"] == "db-primary"
        log = self.daemon.log()
        assert "lacks" not in log and "Traceback" not in log, log[-3000:]


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def world(tmp_path: Path, db_url: str, hooks: Receiver) -> Iterator[World]:
    w = World(tmp_path, db_url, hooks)
    try:
        assert wait_for(lambda: _state(w.daemon, "db-primary") == "up", timeout=15)
        assert w.ping() == 200
        yield w
    finally:
        rc = w.close()
    assert rc == 0, w.daemon.log()[-2000:]


def test_rotate_keys_cli_goes_through_the_running_daemon(world: World) -> None:
    r = sysalert(world.data_dir, "rotate-keys", "--batch", "2", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "the running daemon adopted the new key" in r.stderr
    assert r.stdout.startswith("rotated: ")
    masters = read_key_file(world.data_dir / KEY_FILE_NAME)
    assert len(masters) == 2
    new_kid = KeyRing.from_masters(masters).current.key_id
    assert "key ring adopted after a rotation: 2 keys" in world.daemon.log()
    world.check_after_rotation(new_kid)


def test_daemon_not_told_adopts_the_new_ring_by_itself(world: World) -> None:
    """The rotation runs without the daemon's API (the library call the CLI makes, no `adopt`):
    the daemon reads the key file again when it meets a value under a key it does not know."""
    report = rotate_keys(_settings(world.data_dir), batch=2)
    assert report["resealed"] > 0
    new_kid = KeyRing.from_masters(read_key_file(world.data_dir / KEY_FILE_NAME)).current.key_id
    world.check_after_rotation(new_kid)
    assert "key ring adopted after a rotation: 2 keys" in world.daemon.log()


# ---- the store's two triggers, in one process -----------------------------------------------------
@pytest.fixture
def store_settings(tmp_path: Path, db_url: str) -> Settings:
    data_dir = tmp_path / "data"
    init_store(data_dir, _extra_config(db_url))
    settings = _settings(data_dir)
    store = open_store(settings)
    try:
        cmds = Commands(store, settings)
        cmds.add_contact("oncall", "webhook:https://hooks.example.net/x")
        cmds.add_target("tcp://10.20.30.40:5432", name="db-primary")
    finally:
        store.close()
    return settings


def test_store_opened_before_a_rotation_reads_a_value_under_the_new_key(
    store_settings: Settings,
) -> None:
    """A sealed value naming a key id the ring lacks: the ring is read again, the value opens."""
    store = open_store(store_settings)
    adopted: list[bytes] = []
    store.on_keys_changed(lambda ring: adopted.append(ring.current.key_id))
    try:
        old_kid = store.keys.current.key_id
        rotate_keys(store_settings)
        (contact,) = cstore.load_all(store)  # opens name and address sealed under the new key
        assert contact.name == "oncall" and contact.address == "https://hooks.example.net/x"
        assert store.keys.current.key_id != old_kid and adopted == [store.keys.current.key_id]
        assert store.keys.key_ids[1] == old_kid  # the old key stays: values it sealed still open
    finally:
        store.close()


def test_store_opened_before_a_rotation_finds_a_name(store_settings: Settings) -> None:
    """A lookup opens nothing sealed; it sees the key file changed and adopts the new ring."""
    store = open_store(store_settings)
    try:
        rotate_keys(store_settings)
        found = tstore.find(store, "db-primary")
        assert found is not None and found.spec_text == "tcp://10.20.30.40:5432"
        assert len(store.keys.key_ids) == 2
    finally:
        store.close()


def test_a_key_file_that_lost_keys_is_not_adopted(store_settings: Settings) -> None:
    """A ring adopted must still hold every key of the one in use: a swapped file is refused."""
    from engine.security.crypto import new_master_key, write_key_file

    store = open_store(store_settings)
    try:
        before = store.keys.key_ids
        write_key_file(store_settings.data_dir / KEY_FILE_NAME, [new_master_key()])
        assert store.refresh_keys() is False
        assert store.keys.key_ids == before
        assert tstore.find(store, "db-primary") is not None
    finally:
        store.close()


def test_audit_rows_from_before_a_rotation_still_name_and_erase_their_object(
    store_settings: Settings,
) -> None:
    """Audit rows name objects by a keyed ref; a rotation changes the key, not the rows. History
    still finds and names a target's older rows, and erasing a contact still removes all of its."""
    from engine.store.models import AuditEntry

    rotate_keys(store_settings)
    store = open_store(store_settings)
    try:
        cmds = Commands(store, store_settings)
        cmds.add_target("tcp://10.20.30.41:5432", name="db-replica")  # after the rotation
        for name in ("db-primary", "db-replica"):
            rows = cmds.history(target=name)
            assert [r["action"] for r in rows] == ["target.add"], name
            assert rows[0]["target"] == name
        (contact,) = cstore.load_all(store)
        old_ref = store.keys.short_refs("contact", contact.id)[1]
        with store.session() as s:
            refs = list(s.exec(select(AuditEntry.object_ref)).scalars())
        assert old_ref in refs  # contact.add, written under the key before
        cmds.remove_contact("oncall")
        with store.session() as s:
            left = list(s.exec(select(AuditEntry.action, AuditEntry.object_ref)).all())
        mine = set(store.refs("contact", contact.id))
        # Only the erase's own entry (no personal data in it) names the contact now.
        assert [a for a, ref in left if ref in mine] == ["contact.remove"]
    finally:
        store.close()


def test_rotation_refused_while_the_daemon_lacks_the_new_key(world: World) -> None:
    """Keys in SYSALERT_MASTER_KEY: the daemon cannot read a new key from any file, so the
    command stops before re-sealing anything rather than leave the daemon unable to read."""
    import base64
    import subprocess
    import sys

    from engine.security.crypto import new_master_key
    from tests.daemon_harness import ROOT, child_env

    old = read_key_file(world.data_dir / KEY_FILE_NAME)
    before = _sealed_key_ids(_settings(world.data_dir))
    keys = ",".join(base64.b64encode(k).decode() for k in [new_master_key(), *old])
    env = {**child_env(world.data_dir), "SYSALERT_MASTER_KEY": keys}
    r = subprocess.run(
        [sys.executable, "-m", "sysalert_tui", "rotate-keys"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode != 0
    assert "the running daemon cannot use the new key" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert _sealed_key_ids(_settings(world.data_dir)) == before  # nothing re-sealed
    shown = sysalert(world.data_dir, "target", "show", "db-primary", "--json")
    assert shown.returncode == 0, shown.stderr


def test_token_index_rebuilt_off_the_loop_keeps_changes_made_meanwhile(
    store_settings: Settings,
) -> None:
    """The index is built from a copy (HMACs off the loop), then swapped in on the loop with the
    heartbeats added, removed or re-tokened in between: none of them is lost or left answering."""
    from dataclasses import replace

    from engine.runtime.engine import Engine

    store = open_store(store_settings)
    try:
        engine = Engine(store_settings, store)
        hb = engine.alerting.heartbeats
        cmds = engine.commands
        kept, gone, edited = (
            cmds.target_record(cmds.add_target(f"heartbeat://{n}?every=1h&grace=5m", name=n).id)
            for n in ("kept", "gone", "edited")
        )
        rotate_keys(store_settings)
        assert store.refresh_keys()  # adopted: the engine built and swapped an index already
        assert all(hb.lookup(r.token or "") is not None for r in (kept, gone, edited))
        ring = store.keys
        tokens, index = hb.build_index(ring, engine.snapshot())
        # Meanwhile, on the loop: one heartbeat added, one removed, one given a new token.
        added = cmds.target_record(
            cmds.add_target("heartbeat://added?every=1h&grace=5m", name="added").id
        )
        cmds.remove_target("gone")
        engine.targets[edited.id] = replace(engine.targets[edited.id], token="tok-new-xyz")
        hb.swap_index(ring, tokens, index)
        assert hb.lookup(kept.token or "").id == kept.id  # type: ignore[union-attr]
        assert hb.lookup(added.token or "").id == added.id  # type: ignore[union-attr]
        assert hb.lookup(gone.token or "") is None
        assert hb.lookup(edited.token or "") is None  # the old token no longer answers
        assert hb.lookup("tok-new-xyz").id == edited.id  # type: ignore[union-attr]
    finally:
        store.close()
