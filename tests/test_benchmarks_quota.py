"""Benchmark ownership, quotas in both profiles (benchmarks and targets), and sealing in the file.

Quota test names start with `test_quota_`: the subscribers check counts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.commands import Commands
from engine.config.settings import Settings
from engine.core.errors import BadInput, NotFound, QuotaExceeded
from engine.security.crypto import KeyRing
from engine.store import benchmarks as bstore
from engine.store.models import Subscriber
from engine.store.store import Store


@pytest.fixture
def store(db_url: str, keyring: KeyRing) -> Iterator[Store]:
    s = Store.open(db_url, keyring)
    yield s
    s.close()


@pytest.fixture
def cmds(store: Store, settings: Settings) -> Commands:
    return Commands(store, settings)


def test_owners_see_only_their_own_and_remove_deletes_runs(cmds: Commands) -> None:
    mine = cmds.add_benchmark("cpu", owner_id="s1")
    cmds.add_benchmark("cpu", owner_id="s2")  # the same name under another owner is fine
    with pytest.raises(BadInput, match="already exists"):
        cmds.add_benchmark("cpu", owner_id="s1")
    assert [b["id"] for b in cmds.list_benchmarks(owner_id="s1")] == [mine["id"]]
    assert len(cmds.list_benchmarks()) == 2
    with pytest.raises(NotFound):
        cmds.get_benchmark(mine["id"], owner_id="s2")
    bstore.record_runs(cmds.store, mine["id"], [(1.0, 5.0, True)], {"last_score": 5.0})
    assert cmds.remove_benchmark("cpu", owner_id="s1") == {"removed": "cpu", "id": mine["id"]}
    assert bstore.recent_runs(cmds.store, mine["id"]) == [] and len(cmds.list_benchmarks()) == 1


# ---- quotas -------------------------------------------------------------------------------------------


def test_quota_hosted_fourth_benchmark_is_refused_and_nothing_stored(
    cmds: Commands, settings: Settings
) -> None:
    settings.general.profile = "hosted"
    for i in range(3):
        cmds.add_benchmark("cpu", name=f"b{i}", owner_id="sub1")
    with pytest.raises(QuotaExceeded) as err:
        cmds.add_benchmark("cpu", name="b3", owner_id="sub1")
    text = str(err.value)
    assert "benchmark quota reached: 3 of 3 benchmarks in use" in text and "hosted profile" in text
    assert "sysalert bench remove" in text and err.value.exit_code == 2
    assert len(cmds.list_benchmarks(owner_id="sub1")) == 3
    with pytest.raises(NotFound):
        cmds.get_benchmark("b3")
    assert cmds.quota_use("sub1")["benchmarks"] == {
        "kind": "benchmarks",
        "limit": 3,
        "used": 3,
        "source": "profile",
    }
    for i in range(5):  # the operator owns the box: no quota
        cmds.add_benchmark("cpu", name=f"op{i}")


def test_quota_self_hosted_is_unlimited(cmds: Commands, settings: Settings) -> None:
    assert settings.general.profile == "self-hosted"
    for i in range(12):
        cmds.add_benchmark("cpu", name=f"b{i}", owner_id="sub1")
        cmds.add_target(f"tcp://127.0.0.1:{1000 + i}", name=f"t{i}", owner_id="sub1")
    assert cmds.quota_use("sub1")["targets"]["limit"] is None


def test_quota_hosted_targets_allow_five(cmds: Commands, settings: Settings) -> None:
    settings.general.profile = "hosted"
    for i in range(5):
        cmds.add_target(f"tcp://127.0.0.1:{2000 + i}", name=f"t{i}", owner_id="sub1")
    with pytest.raises(QuotaExceeded, match="5 of 5 targets"):
        cmds.add_target("tcp://127.0.0.1:2999", name="t5", owner_id="sub1")
    assert len(cmds.list_targets(owner_id="sub1")) == 5


def test_quota_from_config_and_per_subscriber(
    cmds: Commands, settings: Settings, store: Store
) -> None:
    settings.quotas.max_benchmarks = 2  # a configured limit applies in the self-hosted profile too
    cmds.add_benchmark("cpu", name="a", owner_id="sub9")
    cmds.add_benchmark("cpu", name="b", owner_id="sub9")
    with pytest.raises(QuotaExceeded, match=r"2 of 2 .*quotas.max_benchmarks"):
        cmds.add_benchmark("cpu", name="c", owner_id="sub9")
    with store.session() as s:
        s.add(Subscriber(id="subvip", chat_fp="x", chat_s=b"x", max_benchmarks=4))
        s.add(Subscriber(id="subnone", chat_fp="y", chat_s=b"y", max_benchmarks=0))
        s.commit()
    for i in range(4):
        cmds.add_benchmark("cpu", name=f"v{i}", owner_id="subvip")
    with pytest.raises(QuotaExceeded, match="subscriber's own limit"):
        cmds.add_benchmark("cpu", name="v4", owner_id="subvip")
    with pytest.raises(QuotaExceeded, match="may not add benchmarks"):
        cmds.add_benchmark("cpu", name="n", owner_id="subnone")


# ---- sealing ------------------------------------------------------------------------------------------


def test_sealed_name_and_spec_are_not_in_the_sqlite_file(cmds: Commands, store: Store) -> None:
    if not store.sqlite:
        pytest.skip("raw file check is for SQLite")
    cmds.add_benchmark("https://very-secret-host.example:8443/health?n=3", name="secret-bench-7731")
    assert cmds.list_benchmarks()[0]["name"] == "secret-bench-7731"
    path = Path(store.url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert raw and b"secret-bench-7731" not in raw and b"very-secret-host" not in raw
