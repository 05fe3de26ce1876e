"""The actor list the console and CLI use (engine/api/acting.py) is the command layer's own."""

from __future__ import annotations

import inspect
import subprocess
import sys

from engine.api.acting import ACTOR_COMMANDS, ActingAs
from engine.commands import Commands


def test_actor_commands_are_exactly_the_commands_that_take_by() -> None:
    takes = {
        name
        for name in dir(Commands)
        if not name.startswith("_")
        and callable(getattr(Commands, name))
        and "by" in inspect.signature(getattr(Commands, name)).parameters
    }
    assert takes == ACTOR_COMMANDS, (
        f"add to ACTOR_COMMANDS: {sorted(takes - ACTOR_COMMANDS)}; "
        f"remove: {sorted(ACTOR_COMMANDS - takes)}"
    )


def test_a_command_through_acting_as_does_not_import_the_command_layer() -> None:
    """Attached, the first command must not import engine.commands (a second before the
    console's first row at 100,000 targets)."""
    code = (
        "import sys\n"
        "from engine.api.acting import ActingAs\n"
        "class Layer:\n"
        "    def target_page(self, **kw): return kw\n"
        "    def pause_target(self, ref, by=None): return by\n"
        "a = ActingAs(Layer(), 'ann')\n"
        "assert a.target_page(limit=1) == {'limit': 1}\n"
        "assert a.pause_target('x') == 'ann'\n"
        "print('engine.commands' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_acting_as_fills_by_only_where_the_command_takes_it() -> None:
    class Layer:
        def pause_target(self, ref: str, by: str | None = None) -> str | None:
            return by

        def target_page(self, **kw: object) -> dict[str, object]:
            return dict(kw)

    a = ActingAs(Layer(), "ann")
    assert a.pause_target("t") == "ann"
    assert a.pause_target("t", by="bob") == "bob"
    assert a.target_page(limit=3) == {"limit": 3}
