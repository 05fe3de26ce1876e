"""`sysalert rotate-keys` on one host of a shared PostgreSQL store reaches the engines on other
hosts (separate processes, separate data directories): through the hand-off row sealed under the
old key, or, after `--no-handoff`, by copying the key file, which /health asks for in plain words.
No key ever shows in a log, /health or the rotation's output."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster_harness import Cluster, Node, pg_schema
from tests.conftest import need, pg_available

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(400)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need("PostgreSQL (127.0.0.1:5432, db test)", pg_available(), "start the local PostgreSQL")
    with pg_schema() as url:
        c = Cluster(tmp_path, url, config="")
        cfg = c.first / "config.toml"
        cfg.write_text(cfg.read_text().replace("[engine]\n", '[engine]\nlease = "3s"\n', 1))
        try:
            yield c
        finally:
            c.stop()


def _until(pred, seconds: float, step: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return None


def _keys(node: Node) -> list[str]:
    return list(json.loads((node.data_dir / "master.key").read_text())["keys"])


def _api(node: Node, path: str) -> Any:
    sock = httpx.HTTPTransport(uds=str(node.data_dir / "sysalert.sock"))
    with httpx.Client(transport=sock, base_url="http://sysalert", timeout=10) as c:
        r = c.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def _key_id(b64: str) -> str:
    from engine.security.crypto import KeyRing

    return KeyRing.from_masters([base64.b64decode(b64)]).current.key_id.hex()


def test_a_rotation_reaches_the_other_host_and_no_handoff_asks_for_the_file(
    cluster: Cluster,
) -> None:
    cmds = cluster.commands()
    try:
        hb = cmds.add_target("heartbeat://job?every=1h&grace=1h", name="job")
        token = str(hb.ping_url).rsplit("/", 1)[1]
        cmds.add_contact("oncall", "webhook:http://127.0.0.1:9/h")
    finally:
        cmds.store.close()
    a = cluster.node("a").start()
    b = cluster.node("b").start()
    old = _keys(b)
    assert _keys(a) == old and len(old) == 1

    r = a.cli("rotate-keys", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "every running engine holds the new key" in r.stderr, r.stderr
    new = _keys(a)
    assert len(new) == 2 and new[1] == old[0]
    # b, another data directory, wrote the new ring to its own key file, 0600, and says so.
    assert _keys(b) == new
    assert stat.S_IMODE((b.data_dir / "master.key").stat().st_mode) == 0o600
    health = b.health()
    assert health["status"] == "ok", health
    assert f"adopted key id {_key_id(new[0])}" in health["parts"]["keys"]["note"]
    # b reads what is sealed under the new key, and finds rows by their new fingerprints.
    cmds = cluster.commands()
    try:
        cmds.add_target("tcp://127.0.0.1:9", name="after-rotation", interval="1h")
    finally:
        cmds.store.close()
    names = _until(lambda: {t["name"] for t in _api(b, "/api/v1/targets")} >= {"job",
                   "after-rotation"}, 10)  # fmt: skip
    assert names, _api(b, "/api/v1/targets")
    assert _api(b, "/api/v1/contacts")[0]["name"] == "oncall"
    ping = httpx.get(f"http://127.0.0.1:{b.port}/ping/{token}", timeout=5)
    assert ping.status_code == 200, ping.text

    # After a suspected leak: no hand-off. b cannot follow and says what to do, in plain words.
    r = a.cli("rotate-keys", "--no-handoff", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no hand-off" in r.stderr
    newest = _keys(a)
    assert len(newest) == 3
    kid = _key_id(newest[0])

    def missing() -> dict[str, Any] | None:
        h = b.health()
        return h if h["status"] != "ok" and "keys" in h["failing"] else None

    h = _until(missing, 15)
    assert h, b.health()
    assert h["parts"]["keys"]["error"] == (
        f"store re-keyed with key id {kid} which this engine lacks: copy the key file from a "
        "host that has it"
    )
    assert _keys(b) == new  # nothing was handed over
    shutil.copy(a.data_dir / "master.key", b.data_dir / "master.key")
    assert _until(lambda: b.health()["status"] == "ok", 15), b.health()
    assert {t["name"] for t in _api(b, "/api/v1/targets")} >= {"job", "after-rotation"}

    # No key (old or new, raw or base64) in a log, /health or the rotation's output.
    seen = a.log() + b.log() + r.stdout + r.stderr + json.dumps(b.health())
    for k in newest:
        assert k not in seen
        assert base64.b64decode(k).hex() not in seen
