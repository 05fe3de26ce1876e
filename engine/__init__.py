"""SysAlert engine: probes, state, alerts and the encrypted store. Knows nothing of screens.

The screens' public API: the names below, imported as `from engine import X` (an import-linter
contract keeps screens from reaching into the packages). They load lazily, on first use, so
importing one engine module does not import them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from engine.benchmarks.scoring import fmt
    from engine.benchmarks.spec import parse_bench_spec, parse_threshold
    from engine.checks.conditions.parse import parse_conditions
    from engine.checks.specs import EXAMPLES, parse_spec
    from engine.core.domain import STATE_SYMBOLS, parse_chat_id
    from engine.core.durations import format_duration, parse_duration
    from engine.core.errors import BadInput, NotFound, SysAlertError
    from engine.core.locations import NO_ENGINE, combine
    from engine.core.rulespec import METRICS, SEVERITIES, parse_when
    from engine.core.spec_secrets import mask_spec, restore_password
    from engine.notify.channels import parse_contact_address
    from engine.runtime.facade import ConsoleBackend
    from engine.security.privacy import mask_id
    from engine.telegram.login import LoginPrompts
    from engine.timing.schedules import parse_window

_PUBLIC: dict[str, str] = {
    "mask_spec": "engine.core.spec_secrets",
    "restore_password": "engine.core.spec_secrets",
    "BadInput": "engine.core.errors",
    "ConsoleBackend": "engine.runtime.facade",
    "EXAMPLES": "engine.checks.specs",
    "LoginPrompts": "engine.telegram.login",
    "METRICS": "engine.core.rulespec",
    "NotFound": "engine.core.errors",
    "NO_ENGINE": "engine.core.locations",
    "SEVERITIES": "engine.core.rulespec",
    "STATE_SYMBOLS": "engine.core.domain",
    "SysAlertError": "engine.core.errors",
    "combine": "engine.core.locations",
    "fmt": "engine.benchmarks.scoring",
    "format_duration": "engine.core.durations",
    "mask_id": "engine.security.privacy",
    "parse_bench_spec": "engine.benchmarks.spec",
    "parse_chat_id": "engine.core.domain",
    "parse_conditions": "engine.checks.conditions.parse",
    "parse_contact_address": "engine.notify.channels",
    "parse_duration": "engine.core.durations",
    "parse_spec": "engine.checks.specs",
    "parse_threshold": "engine.benchmarks.spec",
    "parse_when": "engine.core.rulespec",
    "parse_window": "engine.timing.schedules",
}
__all__ = [
    "mask_spec",
    "restore_password",
    "BadInput",
    "ConsoleBackend",
    "EXAMPLES",
    "LoginPrompts",
    "METRICS",
    "NotFound",
    "NO_ENGINE",
    "SEVERITIES",
    "STATE_SYMBOLS",
    "SysAlertError",
    "combine",
    "fmt",
    "format_duration",
    "mask_id",
    "parse_bench_spec",
    "parse_chat_id",
    "parse_conditions",
    "parse_contact_address",
    "parse_duration",
    "parse_spec",
    "parse_threshold",
    "parse_when",
    "parse_window",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
