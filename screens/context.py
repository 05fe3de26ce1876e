"""What a screen may rely on from the App that hosts it, so screens never import sysalert_tui.

The App (in sysalert_tui) provides these attributes; screens reach them through `context(app)`.
Command results arrive either as engine records (embedded) or as JSON dicts (attached): `field()`
reads both, so a screen is written once for both modes.
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
    """Read a field from a record object or its JSON form (`spec_text` is `spec` in JSON)."""
    if isinstance(obj, dict):
        if name == "spec_text":
            return obj.get("spec", obj.get("spec_text", default))
        return obj.get(name, default)
    return getattr(obj, name, default)
