"""A progress bar on the terminal for long CLI work (`sysalert import` of many targets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def import_bar() -> Iterator[Callable[[int, int], None]]:
    """Yield a `progress(done, total)` callback drawing a rich bar on stderr; the bar goes away
    when the work ends, so the one-line summary printed after it is all that stays."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("import", total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield progress
