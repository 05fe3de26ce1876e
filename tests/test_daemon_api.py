"""The daemon's HTTP API, end to end: a real `sysalert --daemon` on a temporary store.

TCP needs an API key (X-API-Key or Bearer); the Unix socket is trusted by its 0600 mode. Every route
of engine/api/routes.py is reached, bad requests get a JSON {error, hint} 4xx, and a caller without
a valid key never sees a sealed value (names, specs, addresses).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from engine.api.routes import ROUTES, Route
from tests.daemon_harness import (
    Daemon,
    cli,
    running_daemon,
    sysalert,
    wait_for,
)

SECRET_NAME = "payroll-db-7f3"  # a sealed value: must never reach a caller without a key
SECRET_SPEC = "tcp://127.0.0.1:1"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("api") / "data") as d:
        yield d


@pytest.fixture(scope="module")
def key(daemon: Daemon) -> str:
    """Minted the way an operator does, while the daemon runs: it must work at once."""
    r = sysalert(daemon.data_dir, "apikey", "add", "--label", "tests")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def api(daemon: Daemon, key: str) -> httpx.Client:
    return daemon.tcp(key)


@pytest.fixture(scope="module")
def secret_target(daemon: Daemon) -> dict[str, Any]:
    r = daemon.unix().post(
        "/api/v1/targets", json={"spec": SECRET_SPEC, "name": SECRET_NAME, "interval": "1h"}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _path(route: Route, value: str = "x") -> str:
    return route.path.replace("{" + route.path_arg + "}", value) if route.path_arg else route.path


def _assert_error(r: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "hint"}, body
    assert isinstance(body["error"], str) and body["error"]
    for w in words:
        assert w in body["error"], body
    return dict(body)


# ---- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_refuses_tcp_callers_without_a_valid_key(
    daemon: Daemon, secret_target: dict[str, Any], route: Route
) -> None:
    for client in (daemon.tcp(), daemon.tcp("sak_wrong"), daemon.tcp("sak_wrong", bearer=True)):
        path = _path(route, secret_target["id"])
        r = client.request(
            route.method, path, json={} if route.method not in ("GET", "DELETE") else None
        )
        body = _assert_error(r, 401, "API key")
        assert body["hint"] and "X-API-Key" in body["hint"]
        assert SECRET_NAME not in r.text and "127.0.0.1" not in r.text


def test_unauthenticated_endpoints_hold_no_sealed_value(
    daemon: Daemon, secret_target: dict[str, Any]
) -> None:
    anon = daemon.tcp()
    r = anon.get("/api/v1/events")
    _assert_error(r, 401, "API key")
    for path in ("/health", "/metrics", "/openapi.json", "/ping/not-a-token"):
        r = anon.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert SECRET_NAME not in r.text and secret_target["id"] not in r.text, path
        assert "127.0.0.1:1" not in r.text, path


def test_key_as_header_or_bearer_and_the_socket_needs_none(
    daemon: Daemon, key: str, secret_target: dict[str, Any]
) -> None:
    for client in (daemon.tcp(key), daemon.tcp(key, bearer=True), daemon.unix()):
        r = client.get(f"/api/v1/targets/{secret_target['id']}")
        assert r.status_code == 200, r.text
        assert r.json()["name"] == SECRET_NAME and r.json()["spec"] == SECRET_SPEC


def test_apikey_cli_stores_only_the_hash_and_revokes_at_once(daemon: Daemon) -> None:
    rc, out, err = cli(daemon.data_dir, "apikey", "add", "--label", "grafana-box", "--json")
    assert rc == 0, err
    made = json.loads(out)
    client = daemon.tcp(made["key"])
    assert client.get("/api/v1/stats").status_code == 200
    listed = json.loads(cli(daemon.data_dir, "apikey", "list", "--json")[1])
    mine = [k for k in listed if k["id"] == made["id"]]
    assert mine == [{"id": made["id"], "label": "grafana-box", "created_at": made["created_at"]}]
    with daemon.db() as db:
        (stored,) = db.execute(
            "SELECT key_hash FROM api_keys WHERE id = ?", (made["id"],)
        ).fetchone()
    assert stored == hashlib.sha256(made["key"].encode()).hexdigest()
    raw = b"".join(p.read_bytes() for p in daemon.data_dir.glob("sysalert.db*"))
    assert made["key"].encode() not in raw and b"grafana-box" not in raw  # label is sealed
    rc, out, err = cli(daemon.data_dir, "apikey", "remove", made["id"])
    assert rc == 0, err
    _assert_error(client.get("/api/v1/stats"), 401)
    rc, out, err = cli(daemon.data_dir, "apikey", "remove", made["id"])
    assert rc == 2 and "no API key" in err


# ---- every route reaches its command -------------------------------------------------------------
_MINIMAL_BODY = {
    "add_target": {"spec": "tcp://127.0.0.1:9"},
    "import_targets": {"text": ""},
    "silence_incident": {"duration": "1h"},
    "maintenance_on": {"what": "nothing-by-this-name"},
    "maintenance_off": {"what": "nothing-by-this-name"},
    "add_contact": {"name": "c", "address": "bogus"},
    "add_subscriber": {"chat_id": "not-a-chat"},
}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_answers_json_from_its_command(api: httpx.Client, route: Route) -> None:
    """Wired, authorised, and never a crash: 200, or a JSON 4xx from the command (501 if absent)."""
    body = _MINIMAL_BODY.get(route.command, {}) if route.method not in ("GET", "DELETE") else None
    r = api.request(route.method, _path(route, "no-such-thing"), json=body)
    assert r.status_code in (200, 400, 404, 409, 501), (r.status_code, r.text)
    if r.status_code != 200:
        _assert_error(r, r.status_code)
    else:
        json.loads(r.text)


# ---- targets ------------------------------------------------------------------------------------
def test_target_lifecycle_over_tcp(api: httpx.Client) -> None:
    r = api.post(
        "/api/v1/targets",
        json={
            "spec": "tcp://127.0.0.1:9",
            "name": "api-t",
            "interval": "1h",
            "tags": ["web"],
            "conditions": ["[CONNECTED] == true"],
        },
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert (t["name"], t["kind"], t["interval_s"], t["tags"]) == ("api-t", "tcp", 3600.0, ["web"])
    assert any(x["id"] == t["id"] for x in api.get("/api/v1/targets").json())
    r = api.patch(f"/api/v1/targets/{t['id']}", json={"name": "api-t2", "interval": 120})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["interval_s"]) == ("api-t2", 120.0)
    assert api.get("/api/v1/targets/api-t2").json()["id"] == t["id"]
    assert api.post("/api/v1/targets/api-t2/pause").json()["paused"] is True
    assert api.get("/api/v1/targets/api-t2").json()["state"] == "paused"
    assert api.post("/api/v1/targets/api-t2/resume").json()["paused"] is False
    assert api.post("/api/v1/targets/api-t2/check").json() == {"queued": t["id"]}
    # check-now jumps the queue of a 2-minute target: a refused result arrives at once
    results = wait_for(
        lambda: api.get("/api/v1/targets/api-t2/results", params={"limit": 5}).json()
    )
    assert results and results[0]["ok"] is False and results[0]["error_class"] == "refused"
    series = api.get("/api/v1/targets/api-t2/series", params={"seconds": 600, "buckets": 10}).json()
    assert len(series["series"]) == 10 and "uptime" in series
    assert api.delete("/api/v1/targets/api-t2").json()["id"] == t["id"]
    _assert_error(api.get("/api/v1/targets/api-t2"), 404, "no target")


def test_down_after_and_up_after_counts_over_the_api(api: httpx.Client) -> None:
    """The console's form sends these in attached mode, the CLI as --down-after/--up-after."""
    r = api.post(
        "/api/v1/targets",
        json={"spec": "tcp://127.0.0.1:9", "name": "counts", "failure_threshold": 4},
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert (t["failure_threshold"], t["recovery_threshold"]) == (4, None)
    r = api.patch("/api/v1/targets/counts", json={"recovery_threshold": "3"})
    assert r.status_code == 200, r.text
    assert (r.json()["failure_threshold"], r.json()["recovery_threshold"]) == (4, 3)
    assert api.delete("/api/v1/targets/counts").status_code == 200


def test_a_name_with_a_slash_is_one_path_segment(api: httpx.Client, daemon: Daemon) -> None:
    """`disk /` is what `sysalert init` seeds; it must be reachable by name over the API and CLI."""
    assert (
        api.post(
            "/api/v1/targets",
            json={"spec": "tcp://127.0.0.1:9", "name": "disk /x", "interval": "1h"},
        ).status_code
        == 200
    )
    assert api.get("/api/v1/targets/disk%20%2Fx").json()["name"] == "disk /x"
    rc, out, err = cli(daemon.data_dir, "target", "show", "disk /x", "--json")
    assert rc == 0, err
    assert json.loads(out)["name"] == "disk /x"
    assert api.delete("/api/v1/targets/disk%20%2Fx").status_code == 200


def test_import_targets(api: httpx.Client) -> None:
    text = '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "imp-1"\ninterval = "1h"\n'
    assert api.post("/api/v1/targets/import", json={"text": text}).json() == {
        "added": 1,
        "updated": 0,
        "unchanged": 0,
    }
    assert api.post("/api/v1/targets/import", json={"text": text}).json() == {
        "added": 0,
        "updated": 0,
        "unchanged": 1,
    }
    changed = text.replace('"1h"', '"2h"')
    assert api.post("/api/v1/targets/import", json={"text": changed}).json()["updated"] == 1
    _assert_error(api.post("/api/v1/targets/import", json={"text": "[[targets]\n"}), 400, "TOML")
    api.delete("/api/v1/targets/imp-1")


# ---- bad requests --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"spek": "tcp://h:1"}, ("unknown field", "spek")),
        ({}, ("missing field", "spec")),
        ({"spec": ""}, ("spec", "empty")),
        ({"spec": "nope://x"}, ("spec", "unknown")),
        ({"spec": "tcp://127.0.0.1"}, ("port",)),
        ({"spec": "tcp://127.0.0.1:9", "interval": "soon"}, ("interval",)),
        ({"spec": "tcp://127.0.0.1:9", "name": 5}, ("name", "string")),
        ({"spec": "tcp://127.0.0.1:9", "tags": "web"}, ("tags", "array")),
        ({"spec": "tcp://127.0.0.1:9", "conditions": ["[STATUS] =="]}, ()),
        ([{"spec": "tcp://127.0.0.1:9"}], ("JSON object",)),
        ({"spec": "tcp://127.0.0.1:9", "failure_threshold": 0}, ("failure_threshold", "1 to 100")),
        ({"spec": "tcp://127.0.0.1:9", "recovery_threshold": "two"}, ("recovery_threshold",)),
        ({"spec": "tcp://127.0.0.1:9", "failure_threshold": 2.5}, ("failure_threshold",)),
    ],
)
def test_bad_target_bodies_get_a_clear_400(
    api: httpx.Client, body: Any, words: tuple[str, ...]
) -> None:
    body_ = _assert_error(api.post("/api/v1/targets", json=body), 400, *words)
    assert body_["hint"], body_


def test_non_json_bodies_and_bad_query_values(api: httpx.Client) -> None:
    r = api.post(
        "/api/v1/targets", content=b"spec=tcp://h:1", headers={"content-type": "text/plain"}
    )
    assert "not JSON" in _assert_error(r, 400)["error"]
    for junk in (b"\xcd", b"\x92{}", '{"spec": "é"}'.encode("latin-1")):  # not UTF-8
        for path in ("/api/v1/targets", "/api/v1/contacts", "/api/v1/targets/import"):
            _assert_error(api.post(path, content=junk), 400, "not JSON", "UTF-8")
    _assert_error(api.post("/api/v1/targets", content=b"[" * 200_000), 400, "nested too deeply")
    for limit in ("lots", "1e3", "2.5"):
        _assert_error(api.get("/api/v1/history", params={"limit": limit}), 400, "limit", "integer")
    _assert_error(api.get("/api/v1/targets/x/series", params={"seconds": "nan"}), 400, "number")
    nan = b'{"spec": "tcp://127.0.0.1:9", "interval": NaN}'  # Python's json reads it; we refuse it
    _assert_error(api.post("/api/v1/targets", content=nan), 400, "NaN")
    contact = {"name": "c", "address": "webhook:http://127.0.0.1:9/x"}
    _assert_error(api.post("/api/v1/contacts", json={**contact, "level": "high"}), 400, "integer")
    _assert_error(api.post("/api/v1/contacts", json={**contact, "level": 1.5}), 400, "level")
    _assert_error(api.get("/api/v1/history", params={"kind": "gossip"}), 400, "gossip")
    _assert_error(api.get("/api/v1/incidents", params={"state": "sleepy"}), 400, "sleepy")
    _assert_error(api.get("/api/v1/incidents", params={"colour": "red"}), 400, "unknown field")
    _assert_error(
        api.post("/api/v1/incidents/nope/silence", json={"duration": "a while"}), 400, "duration"
    )
    _assert_error(api.post("/api/v1/incidents/nope/ack", json={}), 404, "no incident")


# ---- incidents, maintenance, contacts, history, stats -----------------------------------------------
def test_incident_ack_silence_resolve(api: httpx.Client) -> None:
    hb = api.post("/api/v1/targets", json={"spec": "heartbeat://inc-job?every=1h&grace=5m"}).json()
    assert httpx.get(hb["ping_url"] + "/fail").status_code == 200
    # incidents open on the alerting task, a moment after the state change
    firing = wait_for(
        lambda: api.get("/api/v1/incidents", params={"state": "firing", "target": "inc-job"}).json()
    )
    assert len(firing) == 1 and firing[0]["target"] == "inc-job"
    iid = firing[0]["id"]
    acked = api.post(f"/api/v1/incidents/{iid}/ack", json={"by": "alice"}).json()
    # over TCP a `by` is the key holder's word: recorded with the key's label (issue 15)
    assert (acked["state"], acked["acked_by"]) == ("acknowledged", "api:tests for alice")
    silenced = api.post(f"/api/v1/incidents/{iid}/silence", json={"duration": "2h"}).json()
    assert silenced["silenced_until"] and silenced["silenced_until"] > time.time() + 7000
    assert api.post(f"/api/v1/incidents/{iid}/resolve", json={}).json()["state"] == "resolved"
    hist = api.get("/api/v1/history", params={"kind": "incident"}).json()
    assert {"incident.ack", "incident.silence", "incident.resolve"} <= {h["action"] for h in hist}
    api.delete(f"/api/v1/targets/{hb['id']}")


def test_maintenance_on_list_off(api: httpx.Client) -> None:
    t = api.post(
        "/api/v1/targets", json={"spec": "tcp://127.0.0.1:9", "name": "mnt-t", "interval": "1h"}
    ).json()
    on = api.post(
        "/api/v1/maintenance/on", json={"what": "mnt-t", "duration": "1h", "reason": "reboot"}
    ).json()
    (w,) = on["windows"]
    listed = api.get("/api/v1/maintenance").json()
    assert any(x["id"] == w["id"] and x["target"] == "mnt-t" for x in listed)
    assert (
        api.get("/api/v1/targets").json()
        and api.get("/api/v1/stats").json()["states"].get("maintenance") == 1
    )
    off = api.post("/api/v1/maintenance/off", json={"what": "mnt-t"}).json()
    assert off == {"removed": 1, "kept": [], "note": None}
    on = api.post("/api/v1/maintenance/on", json={"what": "mnt-t"}).json()
    assert api.delete(f"/api/v1/maintenance/{on['windows'][0]['id']}").json() == {"removed": 1}
    assert not [x for x in api.get("/api/v1/maintenance").json() if x["target"] == "mnt-t"]
    _assert_error(api.delete("/api/v1/maintenance/nope1234"), 404, "no maintenance window")
    # An API key's caller is recorded by the key's label; one who names someone, as the key's
    # holder acting for that person: a key cannot write another's name alone into the log.
    api.post("/api/v1/maintenance/on", json={"what": "mnt-t"}, headers={"X-SysAlert-Actor": "eve"})
    audit = [(h["action"], h["actor"]) for h in api.get("/api/v1/history").json()]
    assert ("maintenance.remove", "api:tests") in audit and (
        "maintenance.off",
        "api:tests",
    ) in audit
    assert ("maintenance.on", "api:tests for eve") in audit
    assert ("maintenance.on", "eve") not in audit
    api.delete(f"/api/v1/targets/{t['id']}")


def test_actor_header_is_trusted_alone_only_on_the_unix_socket(
    daemon: Daemon, api: httpx.Client
) -> None:
    """The Unix socket (mode 0600) is its owner's: the name it sends stands. Over TCP the key's
    label stands first, for the header and for an ack's `by` field alike."""
    u = daemon.unix()
    t = u.post("/api/v1/targets", json={"spec": "tcp://127.0.0.1:9", "name": "actor-t"}).json()
    u.post("/api/v1/targets/actor-t/pause", headers={"X-SysAlert-Actor": "mallory%20m"})
    api.post("/api/v1/targets/actor-t/resume", headers={"X-SysAlert-Actor": "mallory%20m"})
    api.post("/api/v1/targets/actor-t/pause")
    audit = [
        (h["action"], h["actor"])
        for h in u.get("/api/v1/history", params={"target": "actor-t"}).json()
    ]
    assert ("target.pause", "mallory m") in audit  # the socket: the name alone
    assert ("target.resume", "api:tests for mallory m") in audit
    assert ("target.pause", "api:tests") in audit
    assert not any(a == "mallory m" and act == "target.resume" for act, a in audit)
    u.delete(f"/api/v1/targets/{t['id']}")


class _Hook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        _Hook.received.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


def test_contacts_and_a_real_test_notification(api: httpx.Client) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        c = api.post(
            "/api/v1/contacts", json={"name": "ops-hook", "address": f"webhook:{url}", "level": 2}
        )
        assert c.status_code == 200, c.text
        assert any(
            x["name"] == "ops-hook" and x["level"] == 2 for x in api.get("/api/v1/contacts").json()
        )
        res = api.post("/api/v1/contacts/ops-hook/test").json()
        assert res["ok"] is True and res["channel"] == "webhook", res
        assert _Hook.received and b"test notification" in _Hook.received[-1]
        _assert_error(
            api.post("/api/v1/contacts", json={"name": "x", "address": "carrier-pigeon:bob"}), 400
        )
        assert api.delete("/api/v1/contacts/ops-hook").json() == {"removed": "ops-hook"}
        _assert_error(api.delete("/api/v1/contacts/ops-hook"), 404, "no contact")
    finally:
        srv.shutdown()


def test_history_and_stats(api: httpx.Client) -> None:
    t = api.post(
        "/api/v1/targets", json={"spec": "tcp://127.0.0.1:9", "name": "hist-t", "interval": "1h"}
    ).json()
    hist = api.get("/api/v1/history", params={"target": "hist-t"}).json()
    assert hist[0]["action"] == "target.add" and hist[0]["target"] == "hist-t"
    assert len(api.get("/api/v1/history", params={"limit": 1}).json()) == 1
    stats = api.get("/api/v1/stats").json()
    assert stats["mode"] == "daemon" and stats["targets"] >= 1
    api.delete(f"/api/v1/targets/{t['id']}")


# ---- schema and events -----------------------------------------------------------------------------
def test_openapi_lists_every_route(daemon: Daemon) -> None:
    doc = daemon.tcp().get("/openapi.json").json()
    assert (
        doc["openapi"].startswith("3.")
        and doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    )
    for r in ROUTES:
        assert r.method.lower() in doc["paths"][r.path], (r.method, r.path)
    add = doc["paths"]["/api/v1/targets"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert add["required"] == ["spec"] and add["additionalProperties"] is False
    assert add["properties"]["tags"]["anyOf"][0]["type"] == "array"
    assert {"get", "post", "head"} <= set(doc["paths"]["/ping/{token}"])


def test_event_stream_delivers_a_result(daemon: Daemon, api: httpx.Client, key: str) -> None:
    hb = api.post("/api/v1/targets", json={"spec": "heartbeat://sse-job?every=1h&grace=5m"}).json()
    lines: list[str] = []
    connected = threading.Event()

    def read() -> None:
        with (
            httpx.Client(base_url=daemon.base_url, headers={"X-API-Key": key}, timeout=10) as c,
            c.stream("GET", "/api/v1/events", params={"types": "result"}) as r,
        ):
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                connected.set()
                lines.append(line)
                if line.startswith("data:"):
                    return

    th = threading.Thread(target=read, daemon=True)
    th.start()
    assert connected.wait(5)
    assert httpx.get(hb["ping_url"]).status_code == 200
    th.join(5)
    assert "event: result" in lines, lines
    data = json.loads(lines[-1][len("data: ") :])
    assert (data["type"], data["target_id"], data["ok"], data["state"]) == (
        "result",
        hb["id"],
        True,
        "up",
    )
    api.delete(f"/api/v1/targets/{hb['id']}")
