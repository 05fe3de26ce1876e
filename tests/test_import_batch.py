"""`sysalert import` in batches: the rows are what `target add` writes, every batch is one
transaction with its audit rows, the whole file is checked first, and progress is reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from engine.commands import Commands
from engine.config.settings import Settings
from engine.core.errors import BadInput
from engine.security.crypto import KeyRing
from engine.store import target_batch
from engine.store import targets as tstore
from engine.store.models import AuditEntry
from engine.store.store import Store


@pytest.fixture
def cmds(db_url: str, keyring: KeyRing, settings: Settings) -> Iterator[Commands]:
    """On a SQLite file and on PostgreSQL: the batch insert takes a driver path on SQLite."""
    store = Store.open(db_url, keyring)
    try:
        yield Commands(store, settings)
    finally:
        store.close()


def _file(n: int, start: int = 0, interval: str = "30s") -> str:
    return "".join(
        f'[[targets]]\nspec = "tcp://127.0.0.1:{1000 + i % 7}"\nname = "t-{i:05d}"\n'
        f'interval = "{interval}"\ntags = ["rack-{i % 3}"]\n\n'
        for i in range(start, start + n)
    )


def test_row_values_match_the_orm_row(cmds: Commands) -> None:
    rec = cmds.build_target(
        "heartbeat://nightly?every=1h", name="hb", tags=["a", "b"], conditions=[], options={}
    )
    rec.id = "abcdefgh"
    rec.created_at = 123.0
    orm = tstore.to_row(cmds.store, rec).model_dump()
    mine = target_batch.row_values(cmds.store, rec, 456.0)
    assert set(mine) == set(orm)
    sealed = {"name_s", "spec_s", "tags_s", "conditions_s", "options_s", "token_s"}
    for k in set(orm) - sealed - {"updated_at"}:
        assert mine[k] == orm[k], k
    for k in sealed:  # sealed with a fresh nonce each time: compare what they open to
        assert (mine[k] is None) == (orm[k] is None), k
        if mine[k] is not None:
            s = cmds.store
            assert s.open_("targets", k, rec.id, mine[k]) == s.open_("targets", k, rec.id, orm[k])


def test_import_writes_batches_with_audit_rows_and_reports_progress(cmds: Commands) -> None:
    seen: list[tuple[int, int]] = []
    res = cmds.import_targets(_file(2500), by="alice", progress=lambda d, t: seen.append((d, t)))
    assert res == {"added": 2500, "updated": 0, "unchanged": 0}
    assert seen[:3] == [(1000, 2500), (2000, 2500), (2500, 2500)] and seen[-1] == (2500, 2500)
    recs = tstore.load_all(cmds.store)
    assert len(recs) == 2500 and len({r.id for r in recs}) == 2500
    one = tstore.find(cmds.store, "t-01234")
    assert one is not None and one.tags == ["rack-1"] and one.interval_s == 30.0
    with cmds.store.session() as s:
        rows = list(
            s.execute(select(AuditEntry).where(AuditEntry.action == "target.add")).scalars()
        )
    assert len(rows) == 2500
    actors = {
        cmds.store.open_("audit", "actor_s", f"{r.ts:.6f}:{r.action}", r.actor_s) for r in rows
    }
    assert actors == {"alice"}
    assert {r.object_ref for r in rows} == {cmds.store.ref("target", r.id) for r in recs}
    # Again, with 500 changed and 500 new: the rest stay untouched.
    text = _file(1000, 0, "45s") + _file(1500, 1000) + _file(500, 2500)
    res = cmds.import_targets(text, by="alice")
    assert res == {"added": 500, "updated": 1000, "unchanged": 1500}
    assert tstore.find(cmds.store, "t-00999").interval_s == 45.0  # type: ignore[union-attr]
    assert len(tstore.all_ids(cmds.store)) == 3000


def test_a_bad_entry_or_a_twice_given_name_changes_nothing(cmds: Commands) -> None:
    bad = _file(1500) + '[[targets]]\nspec = "tcp://nohost"\nname = "x"\n'
    with pytest.raises(BadInput, match=r"targets\[1500\]"):
        cmds.import_targets(bad)
    twice = _file(1500) + _file(1, 700)
    with pytest.raises(BadInput, match="'t-00700' is given twice.*entries 701 and 1501"):
        cmds.import_targets(twice)
    assert tstore.all_ids(cmds.store) == []


def test_fresh_ids_are_new_and_typeable(cmds: Commands) -> None:
    ids = target_batch.fresh_ids(cmds.store, 3000)
    assert len(set(ids)) == 3000
    assert all(len(i) == 8 and set(i) <= set(target_batch.ID_ALPHABET) for i in ids)
    rec = cmds.build_target("tcp://127.0.0.1:1", name="taken")
    rec.id = ids[0]
    target_batch.insert_many(cmds.store, [rec], "target.add", "me")
    assert ids[0] not in target_batch.fresh_ids(cmds.store, 3000)


def test_changes_are_written_a_batch_at_a_time_and_checked_before_any_write(
    cmds: Commands,
) -> None:
    cmds.import_targets(_file(2500), by="alice")
    seen: list[tuple[int, int]] = []
    text = _file(1500, 0, "45s") + _file(1000, 1500)
    res = cmds.import_targets(text, by="bob", progress=lambda d, t: seen.append((d, t)))
    assert res == {"added": 0, "updated": 1500, "unchanged": 1000}
    assert seen == [(1000, 2500), (1500, 2500), (2500, 2500)]  # two update batches, then the end
    assert tstore.find(cmds.store, "t-01499").interval_s == 45.0  # type: ignore[union-attr]
    assert tstore.find(cmds.store, "t-01500").interval_s == 30.0  # type: ignore[union-attr]
    with cmds.store.session() as s:
        rows = list(
            s.execute(select(AuditEntry).where(AuditEntry.action == "target.edit")).scalars()
        )
    assert len(rows) == 1500
    assert {
        cmds.store.open_("audit", "actor_s", f"{r.ts:.6f}:{r.action}", r.actor_s) for r in rows
    } == {"bob"}
    # A change that cannot be made (timeout over the interval) fails before the 2,499 others.
    bad = _file(2499, 0, "1m") + (
        '[[targets]]\nspec = "tcp://127.0.0.1:1001"\nname = "t-02499"\ninterval = "5s"\n'
        'timeout = "9s"\n'
    )
    with pytest.raises(BadInput, match="timeout 9s is longer than the interval"):
        cmds.import_targets(bad)
    assert tstore.find(cmds.store, "t-00000").interval_s == 45.0  # type: ignore[union-attr]


def test_locations_and_quorum_are_part_of_what_an_import_compares(cmds: Commands) -> None:
    one = '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "db"\n'
    assert cmds.import_targets(one)["added"] == 1
    res = cmds.import_targets(one + 'locations = ["fra", "nyc"]\nquorum = 1\n')
    assert res == {"added": 0, "updated": 1, "unchanged": 0}
    rec = tstore.find(cmds.store, "db")
    assert rec is not None and rec.locations == ["fra", "nyc"] and rec.quorum == 1
    assert cmds.import_targets(cmds.export_targets())["unchanged"] == 1


def test_check_only_counts_and_writes_nothing(cmds: Commands) -> None:
    cmds.import_targets(_file(10))
    res = cmds.import_targets(_file(5, 0, "45s") + _file(10, 5), check_only=True)
    assert res == {"added": 5, "updated": 5, "unchanged": 5}
    assert len(tstore.all_ids(cmds.store)) == 10
    assert tstore.find(cmds.store, "t-00000").interval_s == 30.0  # type: ignore[union-attr]


def test_export_is_written_a_page_at_a_time_in_the_same_bytes(cmds: Commands) -> None:
    """The bytes `export` wrote when it read every record at once: sorted by name case-folded
    (stable), a parent's name as depends_on, heartbeats without a cadence."""
    from engine.commands.targets_io import EXPORT_HEADER, _toml_target

    text = _file(7) + (
        '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "DB"\ndepends_on = "t-00003"\n'
        '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "db"\ndepends_on = "DB"\n'
        'locations = ["fra"]\nfailure_threshold = 3\n'
        '[[targets]]\nspec = "heartbeat://nightly?every=1d"\nname = "Alpha"\n'
        '[[targets]]\nspec = "https://u:pw@example.org/x"\nname = "web"\n'
        'options = { follow_redirects = false, expect_status = "2xx" }\n'
        'conditions = ["[STATUS] == 200"]\n'
    )
    cmds.import_targets(text)
    recs = cmds.target_records()  # what export read before: every record, sorted by name
    names = {r.id: r.name for r in recs}
    lines = [EXPORT_HEADER, ""]
    for r in recs:
        lines += [*_toml_target(r, names), ""]
    before = "\n".join(lines)
    parts = list(cmds.export_parts(page=3))
    assert len(parts) == 1 + 4  # the header, then 11 targets 3 at a time
    assert "".join(parts) == before == cmds.export_targets()
    assert 'spec = "https://u:pw@example.org/x"' in before  # the user's own file: in full
    assert [r.name for r in recs][:3] == ["Alpha", "DB", "db"]
    assert cmds.import_targets(before) == {"added": 0, "updated": 0, "unchanged": 11}
    empty = Commands(cmds.store, cmds.settings)
    for rid in tstore.all_ids(cmds.store):
        tstore.delete_target(cmds.store, rid)
    assert empty.export_targets() == EXPORT_HEADER + "\n"
