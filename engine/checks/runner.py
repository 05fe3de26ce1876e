"""Run one check: the probe for the kind, under a timeout, with retries and Gatus conditions.

Shared by the scheduler, `sysalert check` and the console's "check now", so a result means the same
thing everywhere.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engine.checks.probes import ProbeContext, ProbeResult, get_probe
from engine.checks.specs import TargetSpec

# A context without options or conditions (most targets) shares these two: probes only read
# them, and the engine keeps a context per target (120 bytes each at 100,000 targets).
_NO_OPTIONS: dict[str, Any] = {}
_NO_CONDITIONS: list[Any] = []


def make_context(
    timeout: float,
    options: dict[str, Any] | None,
    conditions: list[str] | None,
    shared: dict[str, Any],
) -> ProbeContext:
    conds: list[Any] = _NO_CONDITIONS
    if conditions:
        from engine.checks.conditions.parse import parse_conditions

        conds = parse_conditions(list(conditions))
    return ProbeContext(
        timeout=timeout,
        options=dict(options) if options else _NO_OPTIONS,
        conditions=conds,
        shared=shared,
    )


async def run_check(spec: TargetSpec, ctx: ProbeContext, retries: int = 0) -> ProbeResult:
    """Probe once (plus retries on failure); never raises for a failed check."""
    probe = get_probe(spec.kind)
    if retries == 0 and getattr(probe, "own_timeout", False):
        # Hot path: the probe bounds itself by ctx.timeout; no second timer per check.
        try:
            return await probe(spec, ctx)
        except Exception as exc:
            return ProbeResult.failure("error", f"{type(exc).__name__}: {exc}")
    result: ProbeResult | None = None
    for _attempt in range(retries + 1):
        start = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: no extra task per check on the hot path.
            async with asyncio.timeout(ctx.timeout + 1.0):
                result = await probe(spec, ctx)
        except TimeoutError:
            result = ProbeResult.failure(
                "timeout",
                f"no answer within {ctx.timeout:g}s",
                (time.perf_counter() - start) * 1000,
            )
        except Exception as exc:  # a probe bug must not kill the scheduler
            result = ProbeResult.failure("error", f"{type(exc).__name__}: {exc}")
        if result.ok:
            break
    assert result is not None
    return result
