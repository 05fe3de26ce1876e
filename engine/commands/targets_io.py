"""Targets as code: export to TOML, import from it (engine/commands/importing.py), reconcile the
config's [[targets]]; and the paged view of every target (engine/commands/paging.py)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from typing import Any

from engine.commands.importing import TargetImport
from engine.commands.paging import TargetPaging
from engine.commands.targets import TargetCommands, closes_cycle, decl_args
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.store import target_batch
from engine.store import targets as tstore


class TargetIOCommands(TargetImport, TargetPaging, TargetCommands):
    def _check_parents(
        self, source: str | Callable[[int], str], decls: list[Any], built: list[TargetRecord]
    ) -> None:
        """An import's (or the config's) depends_on names a target in the file or the store, and
        forms no cycle with the rest: checked in full first, so a bad file changes nothing.
        `source` names the file, or gives the place of entry i."""
        at = source if callable(source) else (lambda _i: source)
        recs = {r.id: r for r in self.target_records()}
        parent_of = {r.name: recs[r.parent_id].name for r in recs.values() if r.parent_id in recs}
        for d, rec in zip(decls, built, strict=True):
            if d.depends_on:  # an entry without one keeps its stored parent, as edit does
                parent_of[rec.name] = d.depends_on
        names = {r.name for r in recs.values()} | {rec.name for rec in built}
        for i, (d, rec) in enumerate(zip(decls, built, strict=True)):
            if not d.depends_on:
                continue
            if d.depends_on not in names:
                raise BadInput(
                    f"{at(i)}: {rec.name!r} depends on {d.depends_on!r}, which is not a target",
                    "add that target (in the file or before) or fix the name",
                )
            if closes_cycle(rec.name, d.depends_on, parent_of.get):
                raise BadInput(
                    f"{at(i)}: {rec.name!r} depends on itself through {d.depends_on!r}",
                    "break the cycle in depends_on",
                )

    # ---- targets as code ----------------------------------------------------------------------
    def export_targets(self) -> str:
        """TOML that `import` reads back: targets as code."""
        return "".join(self.export_parts())

    def export_parts(self, page: int = 1000) -> Iterator[str]:
        """`export_targets` a page of targets at a time, in the same bytes: the CLI writes each
        as it comes, so the first line is out at once and at 100,000 targets no more than a
        page of records is held (the ids in name order are read first, then the pages)."""
        yield EXPORT_HEADER + "\n"
        ids, names = target_batch.export_order(self.store)
        for recs in target_batch.iter_ids(self.store, ids, page):
            yield "".join("\n" + "\n".join(_toml_target(r, names)) + "\n" for r in recs)

    def reconcile_declared(self) -> dict[str, int]:
        """Config [[targets]] are the truth for declared targets: add, update, remove. Every
        entry is built and its depends_on checked first, so a bad config changes nothing."""
        decls = self.settings.targets
        built = [self.build_target(**decl_args(d), declared=True) for d in decls]
        if any(d.depends_on for d in decls):  # reading every target costs at 100,000
            self._check_parents(self._config_source, decls, built)
        existing = {r.name: r for r in target_batch.iter_all(self.store) if r.declared}
        seen: set[str] = set()
        added = updated = removed = 0
        for rec in built:
            seen.add(rec.name)
            old = existing.get(rec.name) or tstore.find(self.store, rec.name)
            if old is None:
                self.add_target(name=rec.name, by="config", **_definition(rec))
                added += 1
            elif _definition(old) != _definition(rec):
                self.edit_target(old.id, by="config", **_definition(rec))
                updated += 1
        for name, old in existing.items():
            if name not in seen:
                self.remove_target(old.id, by="config")
                removed += 1
        for d in decls:
            if d.depends_on:
                child = tstore.find(self.store, d.name)
                if child is None:
                    continue
                parent = self.target_names([child.parent_id]) if child.parent_id else {}
                if parent.get(child.parent_id or "") != d.depends_on:  # every start, no rewrite
                    self.edit_target(child.id, depends_on=d.depends_on, by="config")
        return {"added": added, "updated": updated, "removed": removed}

    def _config_source(self, i: int) -> str:
        """`file:line` of the i-th [[targets]] entry's depends_on, for a reconcile error."""
        from engine.config.settings import config_where

        return config_where(self.settings.config_path, None, ("targets", i, "depends_on"))


def _definition(rec: TargetRecord) -> dict[str, Any]:
    """What a target is (not what it is doing): compared to decide an update, passed to add/edit."""
    return {
        "spec": rec.spec_text,
        "interval": rec.interval_s,
        "timeout": rec.timeout_s,
        "tags": rec.tags,
        "conditions": rec.conditions,
        "options": rec.options,
        "declared": rec.declared,
        "failure_threshold": rec.failure_threshold,
        "recovery_threshold": rec.recovery_threshold,
        "locations": rec.locations,
        "quorum": rec.quorum,
    }


EXPORT_HEADER = "# sysalert export: targets as code (contains addresses: keep it private)"


def _toml_target(r: TargetRecord, names: dict[str, str]) -> list[str]:
    """One [[targets]] block's lines; `names`: id -> name of the targets that are parents."""
    lines = ["[[targets]]", f"spec = {_toml_str(r.spec_text)}", f"name = {_toml_str(r.name)}"]
    if r.kind != "heartbeat":  # a heartbeat's cadence follows from its period and grace
        lines.append(f'interval = "{r.interval_s:g}s"')
        lines.append(f'timeout = "{r.timeout_s:g}s"')
    if r.tags:
        lines.append(f"tags = {_toml_value(r.tags)}")
    if r.conditions:
        lines.append(f"conditions = {_toml_value(r.conditions)}")
    if r.options:
        lines.append(f"options = {_toml_value(r.options)}")
    if r.parent_id and r.parent_id in names:
        lines.append(f"depends_on = {_toml_str(names[r.parent_id])}")
    if r.locations:
        lines.append(f"locations = {_toml_value(r.locations)}")
    for key in ("failure_threshold", "recovery_threshold", "quorum"):
        if getattr(r, key) is not None:
            lines.append(f"{key} = {getattr(r, key)}")
    return lines


def toml_entry(raw: dict[str, Any]) -> str:
    """One [[targets]] entry of an import file written back as TOML (what tomllib read, keys
    quoted): the CLI sends a file to a daemon in parts made of these."""
    return "[[targets]]\n" + "".join(
        f"{_toml_str(str(k))} = {_toml_value(v)}\n" for k, v in raw.items()
    )


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_value(v: Any) -> str:
    """A value for `export`: strings, numbers, booleans, arrays and inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):
        items = ", ".join(f"{_toml_str(str(k))} = {_toml_value(x)}" for k, x in v.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, datetime.date | datetime.time):  # a TOML date or time, read back as one
        return v.isoformat()
    return _toml_str(str(v))
