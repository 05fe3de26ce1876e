"""Several engines on one PostgreSQL store, as real daemon processes (DESIGN section 9).

Probes are counted on the receiving side (a TCP connection per check), webhooks by the receiver:
no target is probed by two engines at once, a killed or stopped engine's targets move, a late
engine takes its share, one incident pages once, and a target probed from two locations is
`partial` while fewer than its quorum see it down.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster_harness import Cluster, Counter, Hooks, Node, pg_schema
from tests.conftest import need, pg_available

# Real daemons on a shared machine: starting processes and CLI calls take seconds each.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(400)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need("PostgreSQL (127.0.0.1:5432, db test)", pg_available(), "start the local PostgreSQL")
    with pg_schema() as url:
        c = Cluster(tmp_path, url, config="")
        _set_lease(c.first, "3s")
        try:
            yield c
        finally:
            c.stop()


def _set_lease(data: Path, lease: str) -> None:
    cfg = data / "config.toml"
    text = cfg.read_text()
    cfg.write_text(text.replace("[engine]\n", f'[engine]\nlease = "{lease}"\n', 1))


def _add_targets(c: Cluster, counter: Counter) -> None:
    cmds = c.commands()
    try:
        for i, port in enumerate(counter.ports):
            cmds.add_target(f"tcp://127.0.0.1:{port}", name=f"t{i:02d}", interval="1s")
    finally:
        cmds.store.close()


def _engines(node: Node) -> list[dict]:
    r = node.cli("engines", "--json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def _until(pred, seconds: float, step: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return None


def test_two_engines_split_the_targets_and_a_killed_ones_move(cluster: Cluster) -> None:
    counter = Counter(10)
    try:
        _add_targets(cluster, counter)
        a = cluster.node("a").start()
        b = cluster.node("b").start()
        time.sleep(4)  # the first engine hands half back to the second
        rates = counter.rates(6)
        assert max(rates.values()) <= 1.5, rates  # nobody probed twice a second
        assert min(rates.values()) >= 0.6, rates
        engines = _engines(a)
        assert sorted(e["targets_held"] for e in engines) == [5, 5], engines
        assert all(e["alive"] for e in engines) and sum(e["leader"] for e in engines) == 1
        health = b.health()
        assert health["parts"]["cluster"]["ok"] and health["status"] == "ok"

        a.kill9()
        t_kill = time.monotonic()

        def all_probed() -> bool:
            return min(counter.rates(1.0).values()) > 0

        assert _until(all_probed, 20, step=0), "the killed engine's targets were not taken over"
        moved = time.monotonic() - t_kill
        assert moved < 3 + 1 + 4, f"failover took {moved:.1f} s (lease 3 s + interval 1 s)"
        rates = counter.rates(4)
        assert max(rates.values()) <= 1.5 and min(rates.values()) >= 0.5, rates
        alive = [e for e in _engines(b) if e["alive"]]
        assert [e["targets_held"] for e in alive] == [10]
    finally:
        counter.close()


def test_a_late_engine_takes_its_share_and_a_stopped_one_hands_back_at_once(
    cluster: Cluster,
) -> None:
    counter = Counter(9)
    try:
        _add_targets(cluster, counter)
        a = cluster.node("a").start()
        time.sleep(2)
        assert [e["targets_held"] for e in _engines(a)] == [9]
        b = cluster.node("b").start()
        c = cluster.node("c").start()  # started late: each gets a third
        held = _until(
            lambda: sorted(e["targets_held"] for e in _engines(a) if e["alive"]) == [3, 3, 3], 15
        )
        assert held, _engines(a)
        rates = counter.rates(5)
        assert max(rates.values()) <= 1.6 and min(rates.values()) >= 0.6, rates

        assert b.stop() == 0  # a clean stop hands its leases back: no wait for expiry
        t_stop = time.monotonic()
        assert _until(lambda: min(counter.rates(1.0).values()) > 0, 10, step=0)
        assert time.monotonic() - t_stop < 3.0  # less than the 3 s lease
        rows = {e["id"]: e for e in _engines(c)}
        stopped = [e for e in rows.values() if e["stopped"]]
        assert len(stopped) == 1 and stopped[0]["targets_held"] == 0
    finally:
        counter.close()


def test_one_page_per_incident_with_two_engines(cluster: Cluster) -> None:
    counter, hooks = Counter(6), Hooks()
    try:
        r = cluster.admin().cli(
            "contacts", "add", "oncall", f"webhook:http://127.0.0.1:{hooks.port}/hook"
        )
        assert r.returncode == 0, r.stderr
        _add_targets(cluster, counter)
        a = cluster.node("a").start()
        cluster.node("b").start()
        time.sleep(3)
        counter.close_port(counter.ports[2])
        assert _until(lambda: hooks.about('"t02"'), 20), "no page for a dead target"
        time.sleep(6)  # reminders, a second engine, a hand-over: still one page
        alerts = [b for b in hooks.about('"t02"') if '"kind":"alert"' in b.replace(" ", "")]
        assert len(alerts) == 1, alerts
        incidents = json.loads(a.cli("incidents", "list", "--json").stdout)
        assert len([i for i in incidents if i["target"] == "t02"]) == 1
    finally:
        counter.close()
        hooks.close()


def test_a_location_failing_is_partial_and_the_quorum_pages(cluster: Cluster) -> None:
    hooks = Hooks()
    root = cluster.root
    try:
        admin = cluster.admin()
        r = admin.cli("contacts", "add", "oncall", f"webhook:http://127.0.0.1:{hooks.port}/h")
        assert r.returncode == 0, r.stderr
        script = root / "loc-check.sh"
        script.write_text(f'#!/bin/sh\ntest ! -e "{root}/fail-$CHK_LOC"\n')
        script.chmod(0o755)
        r = admin.cli(
            "target", "add", f"cmd:{script}", "--name", "q", "--interval", "1s",
            "--locations", "fra,nyc", "--quorum", "2",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        fra = cluster.node("fra", "fra").start()
        cluster.node("nyc", "nyc").start()

        def state(want: str) -> dict | None:
            d = json.loads(fra.cli("target", "show", "q", "--json").stdout)
            return d if d["state"] == want else None

        d = _until(lambda: state("up"), 30)
        assert d, "never up from both locations"
        assert [x["location"] for x in d["locations"]] == ["fra", "nyc"]
        assert all(x["state"] == "up" and x["latency_ms"] is not None for x in d["locations"])

        (root / "fail-fra").touch()  # fra's probes fail, nyc's succeed
        d = _until(lambda: state("partial"), 20)
        assert d, "one location of two failing is not partial"
        legs = {x["location"]: x["state"] for x in d["locations"]}
        assert legs == {"fra": "down", "nyc": "up"}
        time.sleep(3)
        assert not hooks.about('"q"'), "paged while fewer than the quorum saw it down"
        status = fra.cli("status")
        assert "partial" in status.stdout and status.returncode != 0  # not counted as up

        (root / "fail-nyc").touch()
        assert _until(lambda: state("down"), 20)
        page = _until(lambda: hooks.about('"q"'), 15)
        assert page and "fra, nyc" in page[0] and "quorum 2" in page[0]
        (root / "fail-fra").unlink()
        (root / "fail-nyc").unlink()
        assert _until(lambda: state("up"), 20)
        time.sleep(2)
        kinds = [json.loads(b)["kind"] for b in hooks.about('"q"')]
        assert kinds == ["alert", "resolved"], kinds
        history = fra.cli("history", "--json")
        assert "state.partial" in history.stdout
    finally:
        hooks.close()


def test_a_location_with_no_engine_is_reported_not_counted_as_up(cluster: Cluster) -> None:
    counter = Counter(1)
    try:
        r = cluster.admin().cli(
            "target", "add", f"tcp://127.0.0.1:{counter.ports[0]}", "--name", "two",
            "--interval", "1s", "--locations", "fra,sgp",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        fra = cluster.node("fra", "fra").start()

        def shown() -> dict | None:
            d = json.loads(fra.cli("target", "show", "two", "--json").stdout)
            return d if d["state"] == "partial" else None

        d = _until(shown, 20)
        assert d, "a target half of whose locations have no engine is not partial"
        legs = {x["location"]: x for x in d["locations"]}
        assert legs["fra"]["state"] == "up" and legs["sgp"]["state"] == "no-engine"
        assert legs["sgp"]["engine"] is None
        sgp = cluster.node("sgp", "sgp").start()  # the location gets an engine: up
        assert _until(lambda: json.loads(sgp.cli("target", "show", "two", "--json").stdout)[
            "state"] == "up", 20)  # fmt: skip
    finally:
        counter.close()


def test_heartbeat_pings_are_taken_by_any_engine(cluster: Cluster) -> None:
    """Pings sent only to the engine that does not hold the heartbeat keep it up (the holder
    folds the committed rows in); when they stop, it goes down and pages once."""
    import httpx

    hooks = Hooks()
    try:
        cmds = cluster.commands()
        try:
            cmds.add_contact("oncall", f"webhook:http://127.0.0.1:{hooks.port}/h")
            rec = cmds.add_target("heartbeat://job?every=4s&grace=4s", name="job")
            token = str(rec.ping_url).rsplit("/", 1)[1]  # the result carries the URL, not the token
        finally:
            cmds.store.close()
        a = cluster.node("a").start()
        b = cluster.node("b").start()
        time.sleep(2)
        other = a if a.health()["parts"]["cluster"]["targets_held"] == 0 else b
        assert other.health()["parts"]["cluster"]["targets_held"] == 0

        def state(node: Node) -> str:
            sock = httpx.HTTPTransport(uds=str(node.data_dir / "sysalert.sock"))
            with httpx.Client(transport=sock, base_url="http://sysalert", timeout=5) as c:
                return str(c.get("/api/v1/targets/job").json()["state"])

        seen = []
        for i in range(8):  # every 1.5 s, to the engine that does not hold it
            r = httpx.get(f"http://127.0.0.1:{other.port}/ping/{token}", timeout=5)
            assert r.status_code == 200, r.text
            time.sleep(1.5)
            if i >= 2:
                seen += [state(a), state(b)]
        assert set(seen) <= {"up", "pending"}, seen  # the holder folded the pings in
        assert "up" in seen
        assert not hooks.about('"job"'), "paged although pings arrived (at the other engine)"
        page = _until(lambda: hooks.about('"job"'), 20)  # pings stop: down after 4 s + 4 s
        assert page
        time.sleep(3)
        alerts = [p for p in hooks.about('"job"') if json.loads(p)["kind"] == "alert"]
        assert len(alerts) == 1
    finally:
        hooks.close()
