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
