"""Metric rules on a hand-driven clock: a rule fires only once its condition has held for the
duration (Prometheus `for:`), starts over when the condition breaks, resolves when it clears; bad
rules in config.toml are rejected with the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.settings import load_settings
from engine.core.errors import BadInput, ConfigError
from engine.core.rulespec import RuleSpec
from tests.alerting_harness import Rig, make_rig

SLOW_API = """
[[rules]]
name = "slow api"
metric = "latency"
comparison = ">"
threshold = 200
duration = "30s"
severity = "high"
target = "api"
"""


def settings_with(data_dir: Path, text: str):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text(text, encoding="utf-8")
    return load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})


@pytest.fixture
def rig(data_dir, db_url, keyring):
    with make_rig(settings_with(data_dir, SLOW_API), db_url, keyring) as r:
        r.contact("oncall")
        r.contact("pager", level=2)
        yield r


def latency(rig: Rig, rec, ms: float, at: float) -> None:
    rig.result(rec, True, at, latency_ms=ms)
    rig.tick(at)


def rule_incidents(rig: Rig) -> list[dict]:
    return [i for i in rig.incidents() if i["kind"] == "rule"]


def test_fires_only_after_the_duration_and_resets_when_the_condition_breaks(rig: Rig) -> None:
    api = rig.target("api")
    latency(rig, api, 300, 0)
    rig.tick(29)
    assert rule_incidents(rig) == []
    latency(rig, api, 50, 20)  # broke before 30 s had passed: the clock starts over
    latency(rig, api, 320, 25)
    for t in (30, 40, 54):
        rig.tick(t)
    assert rule_incidents(rig) == [], "held 29 s of the 30 s"
    rig.tick(55)
    (inc,) = rule_incidents(rig)
    assert inc["state"] == "firing" and inc["severity"] == "high"
    assert inc["opened_at"] == rig.t0 + 55
    assert "slow api" in inc["summary"] and "320" in inc["summary"]
    for t in (56, 80, 100):  # still holding: the same incident, no second alert
        latency(rig, api, 400, t)
    assert len(rule_incidents(rig)) == 1
    assert rig.note_summary(inc["id"]) == [("alert", "oncall", 1)]

    latency(rig, api, 40, 110)  # clears: resolved, with a notice
    (inc,) = rule_incidents(rig)
    assert inc["state"] == "resolved" and inc["resolved_at"] == rig.t0 + 110
    assert rig.note_summary(inc["id"]) == [("alert", "oncall", 1), ("resolved", "oncall", 1)]


def test_zero_duration_fires_on_the_first_tick_and_disabled_rules_never_fire(
    data_dir, db_url, keyring
) -> None:
    text = """
[[rules]]
name = "cpu hot"
metric = "system.cpu"
comparison = ">="
threshold = 90
channels = ["pager"]

[[rules]]
name = "off"
metric = "system.cpu"
comparison = ">"
threshold = 0
enabled = false
"""
    with make_rig(settings_with(data_dir, text), db_url, keyring) as rig:
        rig.contact("oncall")
        rig.contact("pager", level=2)
        cpu = rig.commands.add_target("system://cpu?max=99", name="cpu")
        cpu = rig.engine.targets[cpu.id]
        rig.result(cpu, True, 0, value=50.0)
        rig.tick(0)
        assert rule_incidents(rig) == []
        rig.result(cpu, True, 10, value=90.0)
        rig.tick(10)
        (inc,) = rule_incidents(rig)
        assert inc["summary"].startswith("rule cpu hot")
        # The rule names its channel: only that contact hears of it.
        assert rig.note_summary(inc["id"]) == [("alert", "pager", 1)]


def test_a_rule_edited_at_run_time_takes_effect_on_the_next_tick(rig: Rig, data_dir) -> None:
    api = rig.target("api")
    latency(rig, api, 150, 0)
    rig.tick(100)
    assert rule_incidents(rig) == []
    edited = settings_with(data_dir, SLOW_API.replace("threshold = 200", "threshold = 100"))
    rig.engine.reload_settings(edited)
    rig.tick(101)
    rig.tick(131)
    (inc,) = rule_incidents(rig)
    assert inc["state"] == "firing"


BAD_RULES = [
    ('comparison = ">"', 'comparison = "=>"', "rules[0].comparison = '=>'"),
    ('severity = "high"', 'severity = "urgent"', "rules[0].severity = 'urgent'"),
    ('metric = "latency"', 'metric = "latency_ms"', "rules[0].metric = 'latency_ms'"),
    ('duration = "30s"', 'duration = "30 parsecs"', "rules[0].duration"),
    ('target = "api"', "", "needs a target"),
    ("threshold = 200", 'threshold = "high"', "rules[0].threshold"),
    ("threshold = 200", "treshold = 200", "did you mean 'threshold'"),
]


@pytest.mark.parametrize(("good", "bad", "says"), BAD_RULES)
def test_bad_rules_in_config_say_where_and_what(
    data_dir: Path, good: str, bad: str, says: str
) -> None:
    assert good in SLOW_API
    with pytest.raises(ConfigError) as err:
        settings_with(data_dir, SLOW_API.replace(good, bad))
    msg = f"{err.value.message} {err.value.hint}"
    assert says in msg
    assert "config.toml:" in msg  # file and line
    if "metric" in says:
        assert "system.cpu" in msg  # the choices are listed


def test_two_rules_with_one_name_are_rejected(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="already used by rules"):
        settings_with(data_dir, SLOW_API + SLOW_API)


def test_rule_spec_validation_messages() -> None:
    with pytest.raises(BadInput, match="comparison '=~' is unknown"):
        RuleSpec("r1", "x", "latency", "=~", 1, target="api")
    with pytest.raises(BadInput, match="severity 'urgent' is unknown"):
        RuleSpec("r1", "x", "latency", ">", 1, severity="urgent", target="api")
    assert RuleSpec("r1", "x", "system.disk", "<=", 5).holds(5)
    assert not RuleSpec("r1", "x", "system.disk", "!=", 5).holds(5)


ANY_SLOW = """
[[rules]]
name = "any slow"
metric = "latency"
comparison = ">"
threshold = 200
duration = "20s"
target = "*"

[[rules]]
name = "db slow"
metric = "latency"
comparison = ">"
threshold = 100
target = "tag:db"
"""


def test_a_selector_rule_watches_every_matching_target_on_its_own(
    data_dir, db_url, keyring
) -> None:
    """`target = "*"` or `"tag:NAME"`: each matching target holds, fires and clears under its own
    incident that names it; maintenance silences one target, not the rule."""
    with make_rig(settings_with(data_dir, ANY_SLOW), db_url, keyring) as rig:
        rig.contact("oncall")
        web, api = rig.target("web"), rig.target("api")
        db = rig.target("db1", tags=["db"])
        for t in (0, 10, 20):
            latency(rig, web, 300, t)
            latency(rig, api, 50, t)
            latency(rig, db, 150, t)
        summaries = sorted(i["summary"] for i in rule_incidents(rig) if i["state"] == "firing")
        assert summaries == [
            "rule any slow on web: latency = 300 > 200",
            "rule db slow on db1: latency = 150 > 100",
        ]
        assert {i["target"] for i in rule_incidents(rig)} == {"web", "db1"}
        latency(rig, api, 900, 30)  # api starts its own 20 s
        latency(rig, web, 20, 30)  # web recovers: only its incident resolves
        states = {i["target"]: i["state"] for i in rule_incidents(rig)}
        assert states == {"web": "resolved", "db1": "firing"}
        rig.commands.maintenance_on("api")
        rig.drain()
        latency(rig, api, 900, 55)
        assert "api" not in {i["target"] for i in rule_incidents(rig)}  # in maintenance
        rig.commands.remove_target("db1")
        rig.engine.target_removed(db.id)
        rig.tick(60)
        assert {i["target"]: i["state"] for i in rule_incidents(rig)}.get("db1") in (
            None,
            "resolved",
        )
        assert [i for i in rule_incidents(rig) if i["state"] == "firing"] == []


def test_selector_rules_are_checked(data_dir) -> None:
    with pytest.raises(BadInput, match="tag: needs a tag name"):
        RuleSpec("r1", "x", "latency", ">", 1, target="tag:")
    with pytest.raises(BadInput, match="names one benchmark"):
        RuleSpec("r2", "x", "benchmark.score", "<", 1, target="*")
    assert RuleSpec("r3", "x", "up", "<", 1, target="*").selector


def test_a_selector_rule_is_added_at_run_time(data_dir, db_url, keyring) -> None:
    with make_rig(settings_with(data_dir, ""), db_url, keyring) as rig:
        rig.commands.add_rule("all down", "up", "<", 1, target="*")
        rig.commands.add_rule("db down", "up", "<", 1, target="tag:db")
        shown = {r["name"]: r["target"] for r in rig.commands.list_rules()}
        assert shown == {"all down": "*", "db down": "tag:db"}
        with pytest.raises(BadInput, match="no target 'nosuch'"):
            rig.commands.add_rule("typo", "up", "<", 1, target="nosuch")
        rig.contact("oncall")
        web = rig.target("web")
        rig.results(web, "xx", 0, step=1)
        rig.tick(5)
        assert "rule all down on web: up = 0 < 1" in {i["summary"] for i in rule_incidents(rig)}


def test_rule_incidents_follow_the_rule_being_disabled_removed_or_resolved(
    data_dir, db_url, keyring
) -> None:
    """A disabled or removed rule's incidents resolve (they paged forever before); one the
    operator resolves by hand fires again while its condition still holds."""
    with make_rig(settings_with(data_dir, ""), db_url, keyring) as rig:
        rig.contact("oncall")
        web = rig.target("web")
        rig.commands.add_rule("web slow", "latency", ">", 100, target="web")
        rig.commands.add_rule("any slow", "latency", ">", 100, target="*")
        rig.engine.alerting.rules.reload()
        latency(rig, web, 500, 0)
        firing = {i["summary"]: i["id"] for i in rule_incidents(rig) if i["state"] == "firing"}
        assert set(firing) == {
            "rule web slow: latency = 500 > 100",
            "rule any slow on web: latency = 500 > 100",
        }
        rig.commands.resolve_incident(firing["rule web slow: latency = 500 > 100"])
        latency(rig, web, 500, 10)
        again = [i for i in rule_incidents(rig) if i["state"] == "firing"]
        assert len(again) == 2  # resolved by hand, still slow: it fires again
        rig.commands.set_rule_enabled("any slow", False)
        rig.engine.alerting.rules.reload()
        rig.tick(20)
        assert {i["summary"] for i in rule_incidents(rig) if i["state"] == "firing"} == {
            "rule web slow: latency = 500 > 100"
        }
        rig.commands.remove_rule("web slow")
        rig.engine.alerting.rules.reload()
        rig.tick(30)
        assert [i for i in rule_incidents(rig) if i["state"] == "firing"] == []


def test_a_clear_that_fails_once_is_tried_again(data_dir, db_url, keyring, monkeypatch) -> None:
    """The store refused the resolve once (locked, a dropped connection): the rule's incident
    must still resolve on a later tick, not stay open with nobody looking."""
    from engine.store import incidents as inc_store

    with make_rig(settings_with(data_dir, SLOW_API), db_url, keyring) as rig:
        rig.contact("oncall")
        api = rig.target("api")
        for t in (0, 31):
            latency(rig, api, 300, t)
        assert [i["state"] for i in rule_incidents(rig)] == ["firing"]
        real = inc_store.find_open
        calls = {"n": 0}

        def flaky(store, key):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError("database is locked")
            return real(store, key)

        monkeypatch.setattr(inc_store, "find_open", flaky)
        rig.result(api, True, 40, latency_ms=20)
        with pytest.raises(OSError):
            rig.tick(40)
        rig.tick(50)
        assert [i["state"] for i in rule_incidents(rig)] == ["resolved"]
