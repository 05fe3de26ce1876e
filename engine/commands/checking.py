"""Check one target now, in one place: `sysalert check` (check) and the console's, the API's and
the chat's "check now" (check_target_now). A spec, or a target with conditions or a timeout of the
caller's, is probed here once and the result returned; a stored target that a running engine
watches is checked by the engine (its state, incidents and history follow) and the answer says
it was queued."""

from __future__ import annotations

from typing import Any

from engine.checks.runner import make_context, run_check
from engine.checks.specs import TargetSpec, parse_spec
from engine.commands.base import CommandBase
from engine.core.durations import parse_duration
from engine.core.errors import BadInput
from engine.core.limits import TIMEOUT
from engine.core.results import CheckResult

ONE_OFF_TIMEOUT_S = 5.0  # a bare spec's timeout when none is given


def spec_or_none(what: str) -> TargetSpec | None:
    """`what` as a spec, or None when it names a stored target instead; a malformed spec (it has
    a scheme) is a BadInput. A spec needs no store: `sysalert check URL` works before `init`."""
    try:
        return parse_spec(what)
    except BadInput:
        if "://" in what or what.startswith("cmd:"):
            raise
        return None


def forwarded(got: dict[str, Any]) -> dict[str, Any]:
    """A "check now" on a shared store, said in words: who checks, and where nobody can."""
    parts = ["checking here"] if got["here"] else []
    parts += [f"asked engine {a['engine']} in {a['location']} to check now" for a in got["asked"]]
    if got["unheld"]:
        where = ", ".join("any location" if loc == "*" else loc for loc in got["unheld"])
        parts.append(f"no engine holds it in {where} now: checked once one claims it")
    return {"asked": got["asked"], "detail": "; ".join(parts) or "no engine holds it now"}


class CheckCommands(CommandBase):
    def check_target_now(self, ref: str, owner_id: str | None = None) -> dict[str, Any]:
        """Ask the running engine to check a watched target at once (the console's "check now",
        the API, the chat's /get); its result arrives as the engine's next one. On a shared
        store the engines holding it elsewhere are asked too, and `asked` and `detail` say who
        (`queued` is None when no engine holds it now); one engine alone answers `queued` only. Without an engine: BadInput pointing at
        `sysalert check`, which probes here."""
        rec = self.target_record(ref, owner_id)
        got = self.hooks.check_now(rec.id)
        if got is None:
            return {"queued": rec.id}
        return {"queued": rec.id if got["here"] or got["asked"] else None, **forwarded(got)}

    async def check(
        self,
        what: str,
        conditions: list[str] | None = None,
        timeout: str | float | None = None,
        owner_id: str | None = None,
    ) -> CheckResult:
        """Probe `what` (a spec, or a target's id or name) once; see the module docstring."""
        extra = list(conditions or [])
        spec = spec_or_none(what)
        options: dict[str, Any] = {}
        if spec is None:
            rec = self.target_record(what, owner_id)
            if self.hooks.running and not extra and timeout is None and rec.kind != "heartbeat":
                got = self.check_target_now(rec.id, owner_id)
                return CheckResult(kind=rec.kind, queued=got["queued"], detail=got.get("detail"))
            spec, options = rec.spec, rec.options
            extra = list(rec.conditions) + extra
            default_timeout = rec.timeout_s
        else:
            default_timeout = ONE_OFF_TIMEOUT_S
        if spec.kind == "heartbeat":
            raise BadInput(
                "a heartbeat is pushed, not probed", "look at it with `sysalert target show NAME`"
            )
        to = parse_duration(timeout, "timeout", TIMEOUT) if timeout else default_timeout
        shared: dict[str, Any] = {}
        try:
            res = await run_check(spec, make_context(to, options, extra, shared))
        finally:
            from engine.checks.probes.http import close_shared

            await close_shared(shared)
        return CheckResult(
            kind=spec.kind,
            ok=res.ok,
            latency_ms=res.latency_ms,
            value=res.value,
            error_class=res.error_class,
            detail=res.detail,
            degraded=res.degraded,
        )
