"""Locations and quorum: validation (CLI, config, API all use it) and the combined state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config.settings import load_settings
from engine.core.errors import BadInput, ConfigError
from engine.core.locations import NO_ENGINE, check_locations, check_quorum, combine


def test_locations_are_checked_and_deduplicated() -> None:
    assert check_locations("fra, NYC,fra,,sgp") == ["fra", "nyc", "sgp"]
    assert check_locations(None) == [] and check_locations("") == []
    with pytest.raises(BadInput, match="'eu west' is not a location name"):
        check_locations("eu west")
    with pytest.raises(BadInput, match="17 locations; at most 16"):
        check_locations([f"l{i}" for i in range(17)])


def test_quorum_fits_the_locations() -> None:
    assert check_quorum(None, ["a", "b"]) is None
    assert check_quorum("2", ["a", "b"]) == 2
    with pytest.raises(BadInput, match="quorum 3 with 2 location"):
        check_quorum(3, ["a", "b"])
    with pytest.raises(BadInput, match="--quorum needs --locations"):
        check_quorum(1, [])
    with pytest.raises(BadInput, match="not a whole number"):
        check_quorum("two", ["a", "b"])


@pytest.mark.parametrize(
    ("states", "quorum", "want"),
    [
        ({"a": "up", "b": "up", "c": "up"}, None, "up"),
        ({"a": "down", "b": "up", "c": "up"}, None, "partial"),  # 1 of 3: below the majority
        ({"a": "down", "b": "down", "c": "up"}, None, "down"),  # majority
        ({"a": "down", "b": "up", "c": "up"}, 1, "down"),
        ({"a": "down", "b": "down", "c": "up"}, 3, "partial"),
        ({"a": "up", "b": NO_ENGINE, "c": "up"}, None, "partial"),  # never counted as up
        ({"a": NO_ENGINE, "b": NO_ENGINE, "c": NO_ENGINE}, None, "unknown"),
        ({"a": "up", "b": None, "c": "up"}, None, "unknown"),  # not reported yet
        ({"a": "pending", "b": "up", "c": "degraded"}, None, "up"),
    ],
)
def test_combined_state(states: dict, quorum: int | None, want: str) -> None:
    assert combine(["a", "b", "c"], states, quorum).state == want


def test_the_verdict_names_the_locations() -> None:
    v = combine(["fra", "nyc", "sgp"], {"fra": "down", "nyc": "down", "sgp": NO_ENGINE}, 2)
    assert v.state == "down"
    assert v.detail(3) == ("down in fra, nyc (2 of 3 locations, quorum 2); no engine alive in sgp")


def test_engine_location_and_id_from_config_and_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[engine]\nlocation = "fra"\nlease = "10s"\n')
    s = load_settings(cfg, tmp_path, env={})
    assert (s.location, s.engine.lease, s.engine.id) == ("fra", 10.0, "")
    s = load_settings(cfg, tmp_path, env={"SYSALERT_LOCATION": "nyc", "SYSALERT_ENGINE_ID": "n1"})
    assert (s.location, s.engine.id) == ("nyc", "n1")
    assert load_settings(None, tmp_path / "other", env={}).location == "default"
    with pytest.raises(BadInput, match="SYSALERT_LOCATION='eu west'"):
        load_settings(cfg, tmp_path, env={"SYSALERT_LOCATION": "eu west"})
    cfg.write_text('[engine]\nlocation = "Frankfurt am Main"\n')
    with pytest.raises(ConfigError, match="not a location name"):
        load_settings(cfg, tmp_path, env={})


def test_declared_targets_take_locations_and_quorum(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[targets]]\nspec = "tcp://127.0.0.1:1"\nname = "db"\nlocations = ["fra", "nyc"]\n'
        "quorum = 2\n"
    )
    s = load_settings(cfg, tmp_path, env={})
    assert (s.targets[0].locations, s.targets[0].quorum) == (["fra", "nyc"], 2)
    cfg.write_text(
        '[[targets]]\nspec = "tcp://127.0.0.1:1"\nname = "db"\nlocations = ["fra"]\nquorum = 2\n'
    )
    with pytest.raises(ConfigError, match="quorum 2 with 1 location"):
        load_settings(cfg, tmp_path, env={})


def test_cli_locations_on_a_sqlite_store(tmp_path: Path) -> None:
    """On SQLite (one engine) locations are stored and shown; `engines` says there is no list;
    a bad quorum is one line naming the fix."""
    from tests.daemon_harness import cli, init_store

    data = tmp_path / "data"
    init_store(data)
    rc, out, err = cli(data, "target", "add", "tcp://127.0.0.1:9", "--name", "db",
                       "--locations", "fra,nyc", "--quorum", "3")  # fmt: skip
    assert rc == 2 and "quorum 3 with 2 location(s)" in err and "Traceback" not in err
    rc, out, err = cli(data, "target", "add", "tcp://127.0.0.1:9", "--name", "db",
                       "--locations", "fra,nyc", "--json")  # fmt: skip
    assert rc == 0, err
    d = json.loads(out)
    assert (d["locations"], d["quorum"]) == (["fra", "nyc"], None)
    rc, out, _ = cli(data, "target", "edit", "db", "--quorum", "1")
    assert rc == 0
    rc, out, _ = cli(data, "target", "show", "db", "--json")
    assert json.loads(out)["quorum"] == 1 and json.loads(out)["locations"] == ["fra", "nyc"]
    rc, out, _ = cli(data, "export")
    assert 'locations = ["fra", "nyc"]' in out and "quorum = 1" in out
    rc, out, _ = cli(data, "engines", "--json")
    assert rc == 0 and json.loads(out) == []
    rc, out, _ = cli(data, "engines")
    assert "SQLite store is never shared" in out
