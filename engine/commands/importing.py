"""`sysalert import`: targets as code read back, checked as a whole, then written in batches.

The whole file is validated first (TOML, every entry as `target add` checks it, names unique,
depends_on resolvable and acyclic, every changed target built as `target edit` builds it), so a
bad file changes nothing. Then new targets go in BATCH at a time, and changed ones BATCH at a time,
each batch with its audit rows in one transaction (engine/store/target_batch), and `progress`
hears after each one. A target the file describes as it is stays untouched.

Through a running daemon the CLI checks the file here first (`read_file`, `check_parents`) and
sends it in parts (sysalert_tui/cli_import.py); each part is one call of `import_targets`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, StrictBool

from engine.commands.base import CommandBase
from engine.commands.targets import check_local_path, closes_cycle, decl_args
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.core.limits import IMPORT_MAX, ImportText, check_text
from engine.store import target_batch

if TYPE_CHECKING:
    from engine.config.settings import Settings

BATCH = 1000  # new or changed targets per transaction
Progress = Callable[[int, int], None]  # (targets done, targets in the file)
Earlier = Annotated[int, Field(ge=0, le=10_000_000)]


def definition(rec: TargetRecord) -> dict[str, Any]:
    """What a target is (not what it is doing): compared to decide an update, passed to edit."""
    return {
        "spec": rec.spec_text,
        "interval": rec.interval_s,
        "timeout": rec.timeout_s,
        "tags": rec.tags,
        "conditions": rec.conditions,
        "options": rec.options,
        "failure_threshold": rec.failure_threshold,
        "recovery_threshold": rec.recovery_threshold,
        "locations": rec.locations,
        "quorum": rec.quorum,
    }


@dataclass
class ImportFile:
    """A file read and every entry built: `raw` as TOML gave it (the CLI sends it on in parts)."""

    raw: list[dict[str, Any]]
    decls: list[Any]
    built: list[TargetRecord]


def read_file(text: str, source: str, build: Callable[..., TargetRecord]) -> ImportFile:
    """Every entry parsed and built as `target add` builds it; names unique in the file. Errors
    name the file and the entry (`file:line` for a bad value)."""
    from pydantic import ValidationError

    from engine.config.checks import parse_toml
    from engine.config.settings import TargetDecl, explain

    text = check_text(
        text, f"{source} text", IMPORT_MAX, empty_ok=True, multiline=True, strip=False
    )
    items = parse_toml(text, source).get("targets", [])
    if not isinstance(items, list):
        raise BadInput(
            f"{source}: `targets` must be an array of tables", "write [[targets]] blocks"
        )
    decls = []
    for i, raw in enumerate(items):
        try:
            decls.append(TargetDecl.model_validate(raw))
        except ValidationError as exc:
            raise explain(source, text, exc, ("targets", i)) from None
    built = [build(**decl_args(d)) for d in decls]
    first: dict[str, int] = {}
    for i, rec in enumerate(built):
        j = first.setdefault(rec.name, i)
        if j != i:
            raise BadInput(
                f"{source}: the target name {rec.name!r} is given twice"
                f" ([[targets]] entries {j + 1} and {i + 1})",
                "give each target its own name, or drop one of the two",
            )
    return ImportFile(list(items), decls, built)


def read_file_here(text: str, source: str, settings: Settings) -> ImportFile:
    """`read_file` without a store (the CLI before it sends a file to a daemon): building an
    entry needs only the settings, as its depends_on is checked apart (`check_parents`)."""
    from engine.commands.targets import TargetCommands

    builder = TargetCommands()
    builder.settings = settings
    return read_file(text, source, builder.build_target)


def check_parents(source: str, f: ImportFile, stored: Mapping[str, str | None]) -> dict[str, str]:
    """Each depends_on names a target in the file or the store and closes no cycle; `stored`
    is every stored target's name -> its parent's name. Answers name -> parent as they will be."""
    parent_of = {k: v for k, v in stored.items() if v is not None}
    in_file = {r.name for r in f.built}
    for d, rec in zip(f.decls, f.built, strict=True):
        if d.depends_on:  # an entry without one keeps its stored parent, as edit does
            parent_of[rec.name] = d.depends_on
    for i, (d, rec) in enumerate(zip(f.decls, f.built, strict=True)):
        if not d.depends_on:
            continue
        where = f"{source}: [[targets]] entry {i + 1}"
        if d.depends_on not in stored and d.depends_on not in in_file:
            raise BadInput(
                f"{where}: {rec.name!r} depends on {d.depends_on!r}, which is not a target",
                "add that target (in the file or before) or fix the name",
            )
        if closes_cycle(rec.name, d.depends_on, parent_of.get):
            raise BadInput(
                f"{where}: {rec.name!r} depends on itself through {d.depends_on!r}",
                "break the cycle in depends_on",
            )
    return parent_of


def parents_first(f: ImportFile, parent_of: Mapping[str, str]) -> list[int]:
    """The entries' indexes with every target after its parents (as they will be): sent in this
    order, each part finds the parents it names already written, and no part closes a cycle
    that the whole file does not."""
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        chain = []
        node: str | None = name
        while node is not None and node not in depth:
            chain.append(node)
            node = parent_of.get(node)
        d = depth[node] if node is not None else -1
        for n in reversed(chain):
            d += 1
            depth[n] = d
        return depth[name]

    return sorted(range(len(f.built)), key=lambda i: (depth_of(f.built[i].name), i))


class TargetImport(CommandBase):
    """The import command; TargetCommands provides build_target, edited_record, edit_target."""

    if TYPE_CHECKING:  # what this mixin uses of TargetCommands
        build_target: Callable[..., TargetRecord]
        edited_record: Callable[[TargetRecord, dict[str, Any]], TargetRecord]
        edit_target: Callable[..., Any]

    def import_targets(
        self,
        text: ImportText,
        source: str = "import",
        by: str = "operator",
        progress: Progress | None = None,
        check_only: StrictBool = False,  # over HTTP true or false, never 0 or "yes"
        added_before: Earlier = 0,
    ) -> dict[str, int]:
        """Add new targets and update changed ones by name; all-or-nothing validation first.
        `check_only` checks and counts without writing; `added_before` is how many new targets
        the parts of the same file sent before this one add (a quota counts them too)."""
        f = read_file(text, source, self.build_target)
        total = len(f.built)
        existing = target_batch.find_by_names(self.store, [r.name for r in f.built])
        if any(d.depends_on for d in f.decls):
            check_parents(source, f, target_batch.stored_parents(self.store))
        new = [r for r in f.built if r.name not in existing]
        for rec in new:
            check_local_path(rec)
        if new:
            self.check_quota("targets", None, adding=len(new) + added_before)  # type: ignore[attr-defined]
        changed, reparent, unchanged = self._changes(f, existing)
        updated = set(changed) | {n for n in reparent if n in existing}
        counts = {"added": len(new), "updated": len(updated), "unchanged": unchanged}
        if check_only:
            return counts
        done = 0
        for i in range(0, len(new), BATCH):
            batch = new[i : i + BATCH]
            for rec, tid in zip(batch, target_batch.fresh_ids(self.store, len(batch)), strict=True):
                rec.id = tid
            target_batch.insert_many(self.store, batch, "target.add", by)
            self.hooks.targets_changed(batch)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        edits = list(changed.values())
        for i in range(0, len(edits), BATCH):
            batch = edits[i : i + BATCH]
            target_batch.update_many(self.store, batch, "target.edit", by)
            self.hooks.targets_changed(batch)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        for name, parent_name in reparent.items():  # a parent may come later in the file
            self.edit_target(name, depends_on=parent_name, by=by)
        if progress is not None:
            progress(total, total)
        return counts

    def _changes(
        self, f: ImportFile, existing: dict[str, TargetRecord]
    ) -> tuple[dict[str, TargetRecord], dict[str, str], int]:
        """The stored targets the file changes, each built as `target edit` builds it (so a bad
        change fails before anything is written); the parents to set; how many stay as they are."""
        from engine.store.targets import names_of

        parent_names = names_of(self.store, {o.parent_id for o in existing.values() if o.parent_id})
        changed: dict[str, TargetRecord] = {}
        reparent: dict[str, str] = {}
        unchanged = 0
        for d, rec in zip(f.decls, f.built, strict=True):
            old = existing.get(rec.name)
            if old is None:
                if d.depends_on:
                    reparent[rec.name] = d.depends_on
                continue
            want = definition(rec)
            new_parent = (
                bool(d.depends_on) and parent_names.get(old.parent_id or "") != d.depends_on
            )
            if definition(old) != want:
                changed[rec.name] = self.edited_record(old, want)
            if new_parent:
                reparent[rec.name] = d.depends_on
            if rec.name not in changed and not new_parent:
                unchanged += 1
        return changed, reparent, unchanged
