"""Rules edited at run time (command layer, CLI): they take effect on the next tick, keep their own
clock, and can be disabled and removed; config-declared rules are read-only from here."""

from __future__ import annotations

import pytest

from engine.core.errors import BadInput, NotFound
from tests.alerting_harness import Rig, make_rig


@pytest.fixture
def rig(settings, db_url, keyring):
    with make_rig(settings, db_url, keyring) as r:
        r.contact("oncall")
        yield r


def rule_incidents(rig: Rig) -> list[dict]:
    return [i for i in rig.incidents() if i["kind"] == "rule"]


def test_runtime_rule_fires_after_its_duration_then_disable_and_remove(rig: Rig) -> None:
    api = rig.target("api")
    cmds = rig.engine.commands
    added = cmds.add_rule("api slow", "latency", ">", 100, "20s", "high", ["oncall"], "api")
    assert added["target"] == "api" and added["declared"] is False
    rig.result(api, True, 0, latency_ms=250)
    rig.tick(0)
    rig.tick(19)
    assert rule_incidents(rig) == []
    rig.result(api, True, 20, latency_ms=260)
    rig.tick(21)
    rig.drain()
    fired = rule_incidents(rig)
    assert len(fired) == 1 and fired[0]["severity"] == "high"
    cmds.set_rule_enabled("api slow", enabled=False)
    assert [r["enabled"] for r in cmds.list_rules()] == [False]
    cmds.remove_rule("api slow")
    assert cmds.list_rules() == []
    with pytest.raises(NotFound):
        cmds.remove_rule("api slow")


def test_runtime_rule_validation(rig: Rig) -> None:
    rig.target("api")
    cmds = rig.engine.commands
    with pytest.raises(BadInput, match="metric"):
        cmds.add_rule("x", "latencyy", ">", 1, target="api")
    with pytest.raises(BadInput, match="comparison"):
        cmds.add_rule("x", "latency", "=>", 1, target="api")
    with pytest.raises(BadInput, match="not a number"):
        cmds.add_rule("x", "latency", ">", "lots", target="api")
    with pytest.raises(BadInput, match="contact"):
        cmds.add_rule("x", "latency", ">", 1, channels=["nobody"], target="api")
    with pytest.raises(NotFound):
        cmds.add_rule("x", "latency", ">", 1, target="no-such-target")
    cmds.add_rule("cpu hot", "system.cpu", ">", 90, "5m")
    with pytest.raises(BadInput, match="already exists"):
        cmds.add_rule("cpu hot", "system.cpu", ">", 95)


def test_rules_cli(data_dir, capsys) -> None:
    from sysalert_tui.cli import main

    assert main(["init"]) == 0
    assert (
        main(
            [
                "rules",
                "add",
                "disk full",
                "--metric",
                "system.disk",
                "--when",
                "> 90",
                "--for",
                "10m",
            ]
        )
        == 0
    )
    assert main(["rules", "add", "bad", "--metric", "system.disk", "--when", "more than 9"]) == 2
    assert "--when 'more than 9' is not a comparison" in capsys.readouterr().err
    assert main(["contacts", "add", "oncall", "webhook:http://127.0.0.1:9/h"]) == 0
    assert (
        main(
            [
                "rules",
                "add",
                "load",
                "--metric",
                "system.load",
                "--when",
                ">= 2",
                "--channel",
                "oncall",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["rules", "list"]) == 0
    table = {ln.split()[1]: ln for ln in capsys.readouterr().out.splitlines()[1:]}
    assert " oncall " in table["load"] and " (all) " in table["disk"]
    assert main(["rules", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"disk full"' in out and '"system.disk"' in out
    assert main(["rules", "remove", "disk full"]) == 0
