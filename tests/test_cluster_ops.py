"""Several engines on one PostgreSQL store, as real daemon processes: "check now" reaches the
engine that holds the target (every location's holder for a multi-location target), the leader
forgets engines gone for `[engine] forget_after`, and per-location uptime (issue 18, follow-ups).

Probes are counted on the receiving side (a TCP connection per check)."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster_harness import Cluster, Counter, Node, pg_schema
from tests.conftest import need, pg_available

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(400)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need("PostgreSQL (127.0.0.1:5432, db test)", pg_available(), "start the local PostgreSQL")
    with pg_schema() as url:
        c = Cluster(tmp_path, url, config="")
        cfg = c.first / "config.toml"
        text = cfg.read_text()
        text = text.replace("[engine]\n", '[engine]\nlease = "3s"\nforget_after = "8s"\n', 1)
        text = text.replace('housekeeping_interval = "1h"', 'housekeeping_interval = "1s"')
        cfg.write_text(text)
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


def _api(node: Node, method: str, path: str) -> Any:
    sock = httpx.HTTPTransport(uds=str(node.data_dir / "sysalert.sock"))
    with httpx.Client(transport=sock, base_url="http://sysalert", timeout=10) as c:
        r = c.request(method, path)
        assert r.status_code == 200, r.text
        return r.json()


def _add_late(cmds: Any, spec: str, name: str, **kw: Any) -> Any:
    """A target with a 1 h interval whose first scheduled probe lands at least 150 s after an
    engine takes it (the scheduler's stable spot in the interval): any probe seen within this
    test is a "check now"."""
    for _ in range(40):
        rec = cmds.add_target(spec, name=name, interval="1h", **kw)
        if (zlib.crc32(rec.id.encode()) % 10_000) / 10_000 * 300 > 150:
            return rec
        cmds.remove_target(rec.id)
    raise AssertionError("no target id with a late first probe in 40 tries")


def test_check_now_reaches_the_engine_holding_the_target_in_every_location(
    cluster: Cluster,
) -> None:
    counter = Counter(2)
    plain, multi = counter.ports
    try:
        cmds = cluster.commands()
        try:
            _add_late(cmds, f"tcp://127.0.0.1:{plain}", "plain")
            _add_late(cmds, f"tcp://127.0.0.1:{multi}", "multi", locations=["fra", "nyc"])
        finally:
            cmds.store.close()
        fra = cluster.node("fra", "fra").start()
        nyc = cluster.node("nyc", "nyc").start()
        engines = _until(
            lambda: [e for e in _api(fra, "GET", "/api/v1/engines") if e["targets_held"]], 15
        )
        ids = {e["location"]: e["id"] for e in _api(fra, "GET", "/api/v1/engines")}
        assert engines and set(ids) == {"fra", "nyc"}, engines
        held = _until(lambda: sum(e["targets_held"] for e in _api(fra, "GET", "/api/v1/engines"))
                      == 3, 15)  # fmt: skip
        assert held, "the three leases (plain, multi@fra, multi@nyc) were not all claimed"
        time.sleep(1)
        assert counter.snapshot() == {}, "probed before any check now: the test cannot tell"

        # "plain" is held by one engine: asked on either, it is probed once, by its holder.
        for node in (fra, nyc):
            before = counter.snapshot().get(plain, 0)
            got = _api(node, "POST", "/api/v1/targets/plain/check")
            assert got["queued"], got
            if "checking here" not in got["detail"]:
                other = "nyc" if node is fra else "fra"
                assert got["asked"] == [{"engine": ids[other], "location": other}], got
                assert f"asked engine {ids[other]} in {other} to check now" in got["detail"]
            assert _until(lambda b=before: counter.snapshot().get(plain, 0) == b + 1, 10), (
                f"check now asked on {node.name} did not probe: {got}"
            )
        time.sleep(1.5)
        assert counter.snapshot()[plain] == 2, counter.snapshot()  # no second probe each

        # "multi" is held in fra and in nyc: asked on fra, both locations probe it.
        got = _api(fra, "POST", "/api/v1/targets/multi/check")
        assert got["detail"].startswith("checking here"), got
        assert got["asked"] == [{"engine": ids["nyc"], "location": "nyc"}], got
        assert _until(lambda: counter.snapshot().get(multi, 0) == 2, 10), counter.snapshot()
        time.sleep(1.5)
        assert counter.snapshot()[multi] == 2

        # An engine that holds nothing of it in its location is told who does, truthfully.
        nyc.stop()
        time.sleep(0.5)
        got = _api(fra, "POST", "/api/v1/targets/multi/check")
        assert "no engine holds it in nyc now" in got["detail"], got
        for line in (fra.log() + nyc.log()).splitlines():
            assert f":{plain}" not in line and f":{multi}" not in line, line  # no address
    finally:
        counter.close()


def test_the_leader_forgets_an_engine_gone_for_forget_after(cluster: Cluster) -> None:
    a = cluster.node("a").start()
    b = cluster.node("b").start()

    def rows() -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in _api(a, "GET", "/api/v1/engines")}

    assert _until(lambda: len(rows()) == 2, 10)
    b_id = next(i for i, e in rows().items() if i != a.health()["parts"]["cluster"]["id"])
    b.kill9()
    dead = _until(lambda: b_id in rows() and not rows()[b_id]["alive"], 10)
    assert dead, "a killed engine is not listed as dead before it is forgotten"
    gone = _until(lambda: b_id not in rows(), 20)
    assert gone, "the leader never forgot an engine unseen for longer than forget_after"
    assert a.health()["status"] == "ok"
    assert f"forgot engine {b_id}" in a.log()
    history = json.loads(a.cli("history", "--json", "--limit", "50").stdout)
    assert [h for h in history if h["action"] == "engine.forgotten"], history


def test_uptime_is_kept_per_location(cluster: Cluster) -> None:
    """fra's probes fail, nyc's succeed: each location's uptime is its own (the target's merged
    figure would call it half up), in `target show`, the API and the command layer."""
    root = cluster.root
    script = root / "loc-check.sh"
    script.write_text(f'#!/bin/sh\ntest ! -e "{root}/fail-$CHK_LOC"\n')
    script.chmod(0o755)
    (root / "fail-fra").touch()
    r = cluster.admin().cli(
        "target", "add", f"cmd:{script}", "--name", "q", "--interval", "1s",
        "--locations", "fra,nyc", "--quorum", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    fra = cluster.node("fra", "fra").start()
    cluster.node("nyc", "nyc").start()

    def legs() -> dict[str, Any] | None:
        d = json.loads(fra.cli("target", "show", "q", "--json").stdout)
        got = {x["location"]: x for x in d["locations"]}
        return got if all(x.get("uptime") is not None for x in got.values()) else None

    got = _until(legs, 30)
    assert got, "no per-location uptime in `target show --json`"
    assert got["fra"]["uptime"] == 0.0 and got["nyc"]["uptime"] == 100.0, got  # percent
    text = fra.cli("target", "show", "q").stdout
    assert "uptime 24h 0.00%" in text and "uptime 24h 100.00%" in text, text
    api = _api(fra, "GET", "/api/v1/targets/q/locations/uptime?seconds=3600")
    assert api == {"fra": 0.0, "nyc": 1.0}, api
    cmds = cluster.commands()
    try:
        assert cmds.location_uptimes("q") == {"fra": 0.0, "nyc": 1.0}
    finally:
        cmds.store.close()
