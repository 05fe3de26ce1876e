"""The seeded system targets make no noise before any setup: a busy machine's spikes page nobody;
a level that holds for five minutes (Prometheus's `for: 5m`) pages once, and resolves once."""

from __future__ import annotations

from pathlib import Path

from engine.checks.probes import system
from engine.checks.runner import make_context
from engine.commands.seeding import SEED_FOR_S, seeded_note
from engine.config.settings import load_settings
from tests.alerting_harness import Rig, make_rig


def _settings(data_dir: Path):  # type: ignore[no-untyped-def]
    data_dir.mkdir(parents=True, exist_ok=True)
    return load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})


def _cpu_at(rig: Rig, rec, percent: float, at: float) -> None:  # type: ignore[no-untyped-def]
    """One check of the seeded cpu target reading `percent`: the result the system probe makes
    of that reading for this target's own spec and options, then the engine's tick."""
    ctx = make_context(rec.timeout_s, rec.options, rec.conditions, {})
    res = system.judge(rec.spec, ctx, percent, 0.3, {}, "cpu")
    now = rig.at(at)
    rig.engine.process(rec, res, now)
    rig.drain()
    rig.tick(at)


def test_spikes_on_a_busy_machine_page_nobody_a_sustained_level_pages_once(
    data_dir: Path, db_url: str, keyring
) -> None:  # type: ignore[no-untyped-def]
    with make_rig(_settings(data_dir), db_url, keyring) as rig:
        rig.contact("oncall")
        names = rig.commands.seed_local_targets()
        assert names == ["cpu", "memory", "disk /"]
        cpu = next(r for r in rig.engine.targets.values() if r.name == "cpu")
        # Two minutes of a build on 2 cores: 100% for a check or three, then a breath, again.
        busy = [99, 100, 30, 98, 99, 100, 45, 97, 20, 100]
        t = 0.0
        for percent in busy:
            _cpu_at(rig, cpu, percent, t)
            t += 15
        assert rig.incidents() == [], "a spike opened an incident"
        assert rig.notes() == [], "a spike sent a notification"
        assert cpu.state == "up" and not cpu.flapping

        # Over 95% for five minutes and more: one alert, from the seeded rule.
        start = t
        while t - start <= SEED_FOR_S + 30:
            _cpu_at(rig, cpu, 99, t)
            t += 15
        (inc,) = rig.incidents()
        assert inc["kind"] == "rule" and inc["state"] == "firing" and inc["target"] == "cpu"
        assert rig.note_summary(inc["id"]) == [("alert", "oncall", 1)]
        _cpu_at(rig, cpu, 12, t)
        (inc,) = rig.incidents()
        assert inc["state"] == "resolved"
        assert rig.note_summary(inc["id"]) == [("alert", "oncall", 1), ("resolved", "oncall", 1)]


def test_the_first_start_says_what_was_added_and_when_it_alerts(
    data_dir: Path, db_url: str, keyring
) -> None:  # type: ignore[no-untyped-def]
    with make_rig(_settings(data_dir), db_url, keyring) as rig:
        names = rig.commands.seed_local_targets()
        rules = {r["name"]: r for r in rig.commands.list_rules()}
        assert rig.commands.seed_local_targets() == []  # only ever on an empty store
    assert {r["target"] for r in rules.values()} == set(names)
    assert all(r["duration_s"] >= 300 and r["comparison"] == ">" for r in rules.values())
    note = seeded_note(names)
    assert "cpu, memory, disk /" in note and "5m" in note and "cpu above 95%" in note
    assert "sysalert rules list" in note
