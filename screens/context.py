"""What a screen may rely on from the App that hosts it, so screens never import sysalert_tui.

The App (in sysalert_tui) provides these attributes; screens reach them through `context(app)`.
Command results are typed (engine.core.results); each also answers `r["field"]` and `r.get()` like
its JSON form, so `field()` reads a result the same whichever mode the console runs in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any, Protocol, cast

from engine.runtime.facade import ConsoleBackend


class ConsoleContext(Protocol):
    backend: ConsoleBackend
    clock: Callable[[], float]
    tz: tzinfo
    operator: str
    stats: dict[str, Any]

    def listen(self, node: Any) -> None: ...

    def unlisten(self, node: Any) -> None: ...


def context(app: Any) -> ConsoleContext:
    return cast(ConsoleContext, app)


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field of a command result (engine.core.results); `default` without one (an add
    form has no record yet)."""
    return default if obj is None else obj.get(name, default)
