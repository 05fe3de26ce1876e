"""Maintenance on a hand-driven clock: probes and history go on, no incident opens and nothing is
sent; the end of a window re-evaluates at once. Per target, per tag, all; weekly windows with a
timezone; the `maintenance on|off` CLI against a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.config.settings import load_settings
from engine.runtime.bootstrap import init_data_dir
from engine.security.crypto import load_key_ring
from tests.alerting_harness import Rig, make_rig


@pytest.fixture
def rig(settings, db_url, keyring):
    with make_rig(settings, db_url, keyring) as r:
        r.contact("oncall")
        yield r


def firing_targets(rig: Rig) -> set[str]:
    return {i["target"] for i in rig.incidents("firing")}


def test_target_maintenance_suppresses_and_ending_it_pages_at_once(rig: Rig) -> None:
    db, web = rig.target("db"), rig.target("web")
    rig.results(db, ".", 0)
    rig.commands.maintenance_on("db", reason="kernel update")
    rig.drain()
    assert rig.engine.display_state(db) == "maintenance"
    rig.results(db, "xxx", 10)
    rig.results(web, "xx", 10)
    assert db.state == "down", "probes keep running and the state machine keeps state"
    assert firing_targets(rig) == {"web"}
    assert rig.flush() == 6
    assert [r["ok"] for r in rig.commands.target_results("db")] == [False, False, False, True]
    rig.tick(3000)  # nothing for db however long it lasts
    assert {n.incident_id for n in rig.notes()} == {rig.incidents("firing")[0]["id"]}

    rig.commands.maintenance_off("db")
    rig.drain()  # the engine hears of it at once and re-evaluates: db is still down
    assert firing_targets(rig) == {"db", "web"}
    (inc,) = [i for i in rig.incidents("firing") if i["target"] == "db"]
    assert [n.kind for n in rig.notes(inc["id"])] == ["alert"]
    assert "still down after maintenance" in inc["summary"]
    assert rig.engine.display_state(db) == "down"
    actions = [e["action"] for e in rig.audit("maintenance")]
    assert actions == ["maintenance.on", "maintenance.off"]


def test_a_window_with_an_end_re_evaluates_when_it_ends(rig: Rig) -> None:
    db = rig.target("db")
    rig.commands.maintenance_on("db", "10m")
    rig.drain()
    rig.results(db, "xx", 10)
    rig.tick(590)
    assert rig.incidents() == [] and rig.notes() == []
    rig.tick(600)  # the window's end is a boundary the tick watches for
    assert firing_targets(rig) == {"db"}
    assert rig.commands.list_maintenance() == []  # an ended window is cleaned up


def test_recovering_inside_a_window_resolves_when_it_ends(rig: Rig) -> None:
    db = rig.target("db")
    rig.results(db, "xx", 0)
    (inc,) = rig.incidents()
    rig.commands.maintenance_on("db")
    rig.drain()
    rig.results(db, "..", 30)
    assert db.state == "up"
    assert rig.incident(inc["id"])["state"] == "firing", "nothing changes inside the window"
    assert [n.kind for n in rig.notes(inc["id"])] == ["alert"]
    rig.commands.maintenance_off("db")
    rig.drain()
    assert rig.incident(inc["id"])["state"] == "resolved"
    assert [n.kind for n in rig.notes(inc["id"])] == ["alert", "resolved"]


def test_per_tag_and_all(rig: Rig) -> None:
    web1, web2 = rig.target("web1", tags=["web"]), rig.target("web2", tags=["web", "eu"])
    db = rig.target("db", tags=["data"])
    rig.commands.maintenance_on("tag:web")
    rig.drain()
    assert [rig.engine.display_state(r) for r in (web1, web2, db)] == ["maintenance"] * 2 + [
        "unknown"
    ]
    for r in (web1, web2, db):
        rig.results(r, "xx", 0)
    assert firing_targets(rig) == {"db"}
    rig.commands.maintenance_on("all")
    rig.commands.maintenance_off("tag:web")
    rig.drain()  # web1 and web2 are still covered by "all"
    assert firing_targets(rig) == {"db"}
    rig.commands.maintenance_off("all")
    rig.drain()
    assert firing_targets(rig) == {"db", "web1", "web2"}


def test_reminders_and_rules_are_quiet_in_maintenance(data_dir, db_url, keyring) -> None:
    cfg = data_dir / "config.toml"
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        '[[rules]]\nname = "slow"\nmetric = "latency"\ncomparison = ">"\n'
        'threshold = 200\ntarget = "api"\n',
        encoding="utf-8",
    )
    settings = load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})
    with make_rig(settings, db_url, keyring, resend_interval=600.0) as rig:
        rig.contact("oncall")
        api, db = rig.target("api"), rig.target("db")
        rig.results(db, "xx", 0)
        rig.commands.maintenance_on("all")
        rig.drain()
        rig.result(api, True, 30, latency_ms=900)
        for t in (30, 700, 1400):
            rig.tick(t)
        assert [i["kind"] for i in rig.incidents()] == ["down"]
        assert [n.kind for n in rig.notes()] == ["alert"]  # no reminder in maintenance
        rig.commands.maintenance_off("all")
        rig.drain()
        assert sorted(i["kind"] for i in rig.incidents("firing")) == ["down", "rule"]
        rig.tick(1401)
        assert sorted(n.kind for n in rig.notes()) == ["alert", "alert", "reminder"]


MONDAY_20_UTC = datetime(2024, 1, 1, 20, 0, tzinfo=UTC).timestamp()  # 21:00 in Berlin


def test_weekly_window_in_its_timezone(settings, db_url, keyring) -> None:
    with make_rig(settings, db_url, keyring, start=MONDAY_20_UTC, resend_interval=600.0) as rig:
        rig.contact("oncall")
        db = rig.target("db")
        rig.commands.maintenance_on("db", schedule="mon 22:00-23:00 Europe/Berlin")
        rig.drain()
        (w,) = rig.commands.list_maintenance()
        assert w["kind"] == "weekly" and "Europe/Berlin" in w["schedule"]
        rig.results(db, "xx.", 600)  # 20:10 UTC: outside the window, an outage pages
        assert len(rig.incidents()) == 1
        rig.tick(3599)
        assert rig.engine.display_state(db) == "up"
        rig.tick(3600)  # 22:00 Berlin = 21:00 UTC
        assert rig.engine.display_state(db) == "maintenance"
        rig.results(db, "xx", 3700)
        rig.tick(7199)
        assert rig.incidents("firing") == []
        rig.tick(7200)  # 23:00 Berlin: the window ends and db is still down
        (inc,) = rig.incidents("firing")
        assert [n.kind for n in rig.notes(inc["id"])] == ["alert"]
        week = 7 * 86400
        rig.tick(week + 3600)  # next Monday: the window again; the open incident waits quietly
        assert rig.engine.display_state(db) == "maintenance"
        rig.tick(week + 5000)
        assert [n.kind for n in rig.notes(inc["id"])] == ["alert"]
        rig.tick(week + 7200)
        assert [n.kind for n in rig.notes(inc["id"])] == ["alert", "reminder"]


def test_cron_window(settings, db_url, keyring) -> None:
    start = datetime(2024, 3, 5, 2, 0, tzinfo=UTC).timestamp()
    with make_rig(settings, db_url, keyring, start=start) as rig:
        rig.contact("oncall")
        db = rig.target("db")
        rig.commands.maintenance_on("db", schedule="cron 0 3 * * * for 1h")
        rig.drain()
        rig.tick(3600)  # 03:00: the nightly window opens
        rig.results(db, "xx", 3700)
        assert rig.engine.display_state(db) == "maintenance" and rig.incidents() == []
        rig.tick(7200)  # 04:00: it closes, db is still down
        assert firing_targets(rig) == {"db"}
        rig.tick(86400 + 3600)  # and opens again the next night
        assert rig.engine.display_state(db) == "maintenance"


def sysalert(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysalert_tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def test_cli_maintenance_on_and_off(data_dir: Path, settings) -> None:
    settings.engine.seed_local_targets = False
    init_data_dir(settings)
    env = {
        **os.environ,
        "SYSALERT_DATA_DIR": str(data_dir),
        "SYSALERT_CONFIG": str(data_dir / "config.toml"),
    }
    added = sysalert("target", "add", "tcp://127.0.0.1:9", "--name", "db", "--json", env=env)
    assert added.returncode == 0, added.stderr
    db_id = json.loads(added.stdout)["id"]
    on = sysalert("maintenance", "on", "db", "--for", "1h", "--reason", "reboot", env=env)
    assert on.returncode == 0, on.stderr
    assert "maintenance on for" in on.stdout and "ends in 1h" in on.stdout
    sched = sysalert(
        "maintenance", "on", "tag:web", "--schedule", "sat,sun 00:00-06:00", "--json", env=env
    )
    assert sched.returncode == 0, sched.stderr
    assert json.loads(sched.stdout)["windows"][0]["scope"] == "tag"
    cron = sysalert("maintenance", "on", "db", "--schedule", "cron 0 3 * * * for 1h UTC", env=env)
    assert cron.returncode == 0, cron.stderr
    assert cron.stdout.startswith("maintenance scheduled for db: cron 0 3 * * * for 1h UTC")
    assert "`sysalert maintenance remove " in cron.stdout
    cron_id = cron.stdout.split("(window ", 1)[1].split(";", 1)[0]
    assert sysalert("maintenance", "remove", cron_id, env=env).returncode == 0
    listed = json.loads(sysalert("maintenance", "list", "--json", env=env).stdout)
    by_scope = {w["scope"]: w for w in listed}
    assert by_scope["target"]["target"] == "db" and by_scope["target"]["reason"] == "reboot"
    assert by_scope["tag"]["tag"] == "web" and by_scope["tag"]["kind"] == "weekly"

    keyring = load_key_ring(data_dir)
    with make_rig(settings, settings.database_url, keyring) as rig:  # an engine on that store
        rig.engine.target_changed(db_id)  # the hook the command layer calls
        db = rig.engine.targets[db_id]
        rig.engine.alerting.maintenance_changed()
        rig.drain()
        assert rig.engine.display_state(db) == "maintenance"

        bad = sysalert("maintenance", "on", "nosuch", env=env)
        assert bad.returncode == 2
        assert "no target 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
        off = sysalert("maintenance", "off", "db", env=env)
        assert off.returncode == 0 and "1 window(s) ended" in off.stdout
        rig.engine.alerting.maintenance_changed()
        rig.drain()
        assert rig.engine.display_state(db) == "unknown"
        assert [w["scope"] for w in rig.commands.list_maintenance()] == ["tag"]
        wid = rig.commands.list_maintenance()[0]["id"]
        off = sysalert("maintenance", "off", "tag:web", env=env)  # a schedule: kept, said so
        assert off.returncode == 0 and "0 window(s) ended" in off.stdout
        assert "note: 1 scheduled window(s) kept" in off.stdout or "still in" in off.stdout
        gone = sysalert("maintenance", "remove", wid, env=env)
        assert gone.returncode == 0 and f"removed maintenance window {wid}" in gone.stdout
        assert rig.commands.list_maintenance() == []
        again = sysalert("maintenance", "remove", wid, env=env)
        assert again.returncode == 2 and f"no maintenance window '{wid}'" in again.stderr


def test_state_counts_agree_with_each_targets_shown_state(rig: Rig) -> None:
    """The status bar's counts (a fast pass) match display_state target by target, with no
    window, a target's, a tag's and everything in maintenance, and paused targets."""
    from collections import Counter

    db, web = rig.target("db"), rig.target("web", tags=["edge"])
    rig.target("api", tags=["edge"])
    rig.results(db, "xx", 0)
    rig.commands.pause_target("api")

    def agree() -> dict[str, int]:
        counts = rig.engine.state_counts()
        shown = Counter(rig.engine.display_state(r) for r in rig.engine.targets.values())
        assert counts == dict(shown)
        return counts

    assert agree() == {"down": 1, "unknown": 1, "paused": 1}
    for what in ("db", "tag:edge", "all"):
        on = rig.commands.maintenance_on(what)
        rig.drain()
        counts = agree()
        assert counts.get("maintenance") == {"db": 1, "tag:edge": 1, "all": 2}[what]
        for w in on["windows"]:
            rig.commands.remove_window(w["id"])
        rig.drain()
    assert agree() == {"down": 1, "unknown": 1, "paused": 1}
    assert web.state == "unknown"


def test_maintenance_off_ends_what_runs_now_and_keeps_the_plans(rig: Rig) -> None:
    """`maintenance off` (CLI, API, Telegram /mode active, the console's m) ends toggles and a
    one-off running now; recurring windows and one-offs still to come are plans and stay, and
    the answer says when the target stays in maintenance anyway and what to remove for that."""
    cmds = rig.commands
    db = cmds.add_target("tcp://127.0.0.1:9", name="db", tags=["nightly"])
    cmds.maintenance_on("db", reason="reboot")
    cmds.maintenance_on("db", schedule="cron 0 3 * * * for 1h UTC")
    cmds.maintenance_on("db", schedule="2099-01-01 02:00 for 2h UTC")
    res = cmds.maintenance_off("db")
    assert res["removed"] == 1 and sorted(w["kind"] for w in res["kept"]) == ["cron", "oneoff"]
    assert all(not w["endable"] for w in res["kept"])
    left = [w for w in cmds.list_maintenance() if w["target"] == "db"]
    assert sorted(w["kind"] for w in left) == ["cron", "oneoff"]
    if not any(w["active"] for w in res["kept"]):  # 03:00-04:00 UTC would hold it now
        assert res["note"] == "2 scheduled window(s) kept for later (`sysalert maintenance list`)"
    # A tag window that covers db now: ending db's own maintenance says it is still held.
    tag = cmds.maintenance_on("tag:nightly")["windows"][0]
    res = cmds.maintenance_off("db")
    assert res["removed"] == 0
    assert res["note"].startswith("db is still in maintenance through window ")
    assert tag["id"] in res["note"] and "`sysalert maintenance remove " in res["note"]
    # `off all` ends every toggle of every scope, and keeps the plans.
    res = cmds.maintenance_off("all")
    assert res["removed"] == 1  # the tag toggle
    assert sorted(w["kind"] for w in cmds.list_maintenance()) == ["cron", "oneoff"]
    assert db.id
