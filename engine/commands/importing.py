"""`sysalert import`: targets as code read back, checked as a whole, then written in batches.

The whole file is validated first (TOML, every entry as `target add` checks it, names unique,
depends_on resolvable and acyclic), so a bad file changes nothing. Then new targets go in
BATCH at a time, each batch with its audit rows in one transaction (engine/store/target_batch), and
`progress` hears after each one. A target the file describes as it is stays untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.commands.base import CommandBase
from engine.commands.targets import decl_args
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.core.limits import IMPORT_MAX, ImportText, check_text
from engine.store import target_batch

BATCH = 1000  # new targets per transaction
Progress = Callable[[int, int], None]  # (targets done, targets in the file)


def definition(rec: TargetRecord) -> dict[str, Any]:
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
    }


class TargetImport(CommandBase):
    """The import command; TargetCommands provides build_target, edit_target, target_names."""

    if TYPE_CHECKING:  # what this mixin uses of TargetCommands
        build_target: Callable[..., TargetRecord]
        edit_target: Callable[..., Any]
        target_names: Callable[..., dict[str, str]]

    def import_targets(
        self,
        text: ImportText,
        source: str = "import",
        by: str = "operator",
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Add new targets and update changed ones by name; all-or-nothing validation first."""
        from engine.commands.targets import check_local_path

        decls, built = self._read_import(text, source)
        total = len(built)
        existing = target_batch.find_by_names(self.store, [r.name for r in built])
        if any(d.depends_on for d in decls):
            self._check_import_parents(source, decls, built)
        new = [r for r in built if r.name not in existing]
        for rec in new:
            check_local_path(rec)
        if new:
            self.check_quota("targets", None, adding=len(new))  # type: ignore[attr-defined]
        done = 0
        for i in range(0, len(new), BATCH):
            batch = new[i : i + BATCH]
            for rec, tid in zip(batch, target_batch.fresh_ids(self.store, len(batch)), strict=True):
                rec.id = tid
            target_batch.insert_many(self.store, batch, "target.add", by)
            for rec in batch:
                self.hooks.target_changed(rec.id)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        updated = unchanged = 0
        reparent: list[tuple[str, str]] = []
        for d, rec in zip(decls, built, strict=True):
            old = existing.get(rec.name)
            if old is None:
                if d.depends_on:
                    reparent.append((rec.name, d.depends_on))
                continue
            want, stored = definition(rec), definition(old)
            del want["declared"], stored["declared"]  # an import never changes who owns it
            parent = self.target_names([old.parent_id]) if old.parent_id else {}
            new_parent = bool(d.depends_on) and parent.get(old.parent_id or "") != d.depends_on
            if stored == want and not new_parent:
                unchanged += 1
            else:
                if stored != want:
                    self.edit_target(old.id, by=by, **want)
                if new_parent:
                    reparent.append((rec.name, d.depends_on))
                updated += 1
            done += 1
            if progress is not None and done % BATCH == 0:
                progress(done, total)
        for name, parent_name in reparent:  # a parent may come later in the file
            self.edit_target(name, depends_on=parent_name, by=by)
        if progress is not None:
            progress(total, total)
        return {"added": len(new), "updated": updated, "unchanged": unchanged}

    def _read_import(self, text: str, source: str) -> tuple[list[Any], list[TargetRecord]]:
        """Every entry parsed and built as `target add` builds it; names unique in the file."""
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
        built = [self.build_target(**decl_args(d)) for d in decls]
        first: dict[str, int] = {}
        for i, rec in enumerate(built):
            j = first.setdefault(rec.name, i)
            if j != i:
                raise BadInput(
                    f"{source}: the target name {rec.name!r} is given twice"
                    f" ([[targets]] entries {j + 1} and {i + 1})",
                    "give each target its own name, or drop one of the two",
                )
        return decls, built

    def _check_import_parents(
        self,
        source: str,
        decls: list[Any],
        built: list[TargetRecord],
    ) -> None:
        """Each depends_on names a target in the file or the store and closes no cycle, checked
        before anything is written. Only imports that declare a parent pay for reading them."""
        from engine.store import targets as tstore

        stored = {r.id: r for r in tstore.load_all(self.store)}
        parent_of = {
            r.name: stored[r.parent_id].name for r in stored.values() if r.parent_id in stored
        }
        for d, rec in zip(decls, built, strict=True):
            if d.depends_on:  # an entry without one keeps its stored parent, as edit does
                parent_of[rec.name] = d.depends_on
        names = {r.name for r in stored.values()} | {r.name for r in built}
        for i, (d, rec) in enumerate(zip(decls, built, strict=True)):
            if not d.depends_on:
                continue
            where = f"{source}: [[targets]] entry {i + 1}"
            if d.depends_on not in names:
                raise BadInput(
                    f"{where}: {rec.name!r} depends on {d.depends_on!r}, which is not a target",
                    "add that target (in the file or before) or fix the name",
                )
            seen, node = {rec.name}, parent_of.get(rec.name)
            while node is not None:
                if node in seen:
                    raise BadInput(
                        f"{where}: {rec.name!r} depends on itself through {d.depends_on!r}",
                        "break the cycle in depends_on",
                    )
                seen.add(node)
                node = parent_of.get(node)
