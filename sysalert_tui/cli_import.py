"""`sysalert import` through a running daemon: the file checked here as a whole, then sent in parts.

One request per file was bounded by the daemon's `[api] max_body` (1 MiB by default; 100,000
targets are about 8 MB). Now:

1. The file is read and every entry built here, as the embedded import does (`file:line` errors,
   names unique); when an entry declares depends_on, the stored names and parents are read from
   the daemon a page at a time and the whole graph checked (resolvable, no cycle).
2. Each part (at most 1,000 entries, and well below max_body) is checked by the daemon without
   writing (`check_only`: what only it can judge, such as a disk path on its machine or the
   quota, counting the new targets of the parts before), depends_on left out: the parents a
   part names are written by the parts before it.
3. The parts are sent again, now to be written, parents before their children; each is one
   import on the daemon (its new targets in one transaction, its changes in another).

If a part fails while writing (another writer took a name meanwhile, the daemon stopped), the
parts before it stay written, it and the rest do not, and the error says how many were written.
Import goes by name, so running the same file again resumes: what was written counts as unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from engine.commands.importing import (
    ImportFile,
    Progress,
    check_parents,
    parents_first,
    read_file_here,
)
from engine.commands.targets_io import toml_entry
from engine.core.errors import SysAlertError
from engine.core.limits import MAX_BODY

PART = 1000  # entries per request: one transaction on the daemon, as the embedded batches


def import_attached(
    cmds: Any, text: str, source: str, settings: Any, progress: Progress | None = None
) -> dict[str, int]:
    """Check `text` as a whole, then send it in parts; the counts summed over the parts."""
    f = read_file_here(text, source, settings)
    order: list[int] = list(range(len(f.built)))
    if any(d.depends_on for d in f.decls):
        parent_of = check_parents(source, f, _stored_parents(cmds))
        order = parents_first(f, parent_of)
    local = getattr(cmds, "local_settings", None)  # the daemon's own config, over its socket
    limit = local.api.max_body if local is not None else MAX_BODY
    texts = [toml_entry(raw) for raw in f.raw]
    parts = list(_parts(texts, order, limit))
    added = 0
    for part in parts:  # nothing is written until every part has passed the daemon's check
        got = cmds.import_targets(
            text=_text(f, texts, part, parents=False), check_only=True, added_before=added
        )
        added += got["added"]
    total = len(f.built)
    sums = {"added": 0, "updated": 0, "unchanged": 0}
    done = 0
    for k, part in enumerate(parts):
        try:
            got = cmds.import_targets(
                text=_text(f, texts, part, parents=True), added_before=sums["added"]
            )
        except SysAlertError as exc:
            exc.message = (
                f"{exc.message}; the import stopped at part {k + 1} of {len(parts)}:"
                f" {done} of {total} targets were written before it"
            )
            exc.hint = (
                f"{exc.hint + '; then ' if exc.hint else ''}run the same import again:"
                " the targets written count as unchanged"
            )
            raise
        for key in sums:
            sums[key] += int(got.get(key, 0))
        done += len(part)
        if progress is not None:
            progress(done, total)
    return sums


def _stored_parents(cmds: Any) -> dict[str, str | None]:
    """Every target's name -> its parent's name, read from the daemon a page at a time."""
    from sysalert_tui.cli_stream import STATUS_PAGE, pages

    by_id: dict[str, tuple[str, str | None]] = {}
    for page in pages(cmds, "id,name,parent_id", STATUS_PAGE):
        for r in page["rows"]:
            by_id[r["id"]] = (r["name"], r.get("parent_id"))
    return {name: by_id[p][0] if p in by_id else None for name, p in by_id.values()}


def _parts(texts: list[str], order: list[int], limit: int) -> Iterator[list[int]]:
    """The entries in `order`, PART at a time and each part's request well below `limit`
    bytes (an entry's size as JSON, as the request carries it)."""
    budget = max(limit - 4096, limit // 2)
    part: list[int] = []
    size = 0
    for i in order:
        n = len(json.dumps(texts[i]))
        if part and (len(part) >= PART or size + n > budget):
            yield part
            part, size = [], 0
        part.append(i)
        size += n
    if part:
        yield part


def _text(f: ImportFile, texts: list[str], part: list[int], parents: bool) -> str:
    """The part as an import file; without depends_on for the check (its parents may be in a
    part before it, not written yet: the whole graph was checked here)."""
    return "\n".join(
        texts[i]
        if parents or not f.decls[i].depends_on
        else toml_entry({k: v for k, v in f.raw[i].items() if k != "depends_on"})
        for i in part
    )
