"""Local service probes: a systemd unit (`systemctl show`) and a Docker container (the Engine API
over its Unix socket, with httpx). Both watch this host only.

systemd: up when ActiveState is active (reloading counts); `NRestarts` is [BODY].restarts and
option max_restarts= turns a restart loop into a failure. Docker: up when the container runs and
its health check, if it has one, is not unhealthy; RestartCount is [BODY].restarts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import ProtocolError, done, guarded, number, setting
from engine.checks.specs import TargetSpec

DOCKER_SOCKET = "/var/run/docker.sock"
_PROPERTIES = ("LoadState", "ActiveState", "SubState", "NRestarts", "Result", "MainPID")
_UP = ("active", "reloading")


def _restarts_problem(restarts: int | None, limit: float | None) -> tuple[str, str] | None:
    if limit is None or restarts is None or restarts <= limit:
        return None
    return "threshold", f"restarted {restarts} times, more than {limit:g}"


async def probe_systemd(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """`systemctl show UNIT`: loaded, active, how often restarted."""
    unit = spec.host or ""
    limit = number(spec, ctx, "max_restarts")

    async def run(start: float) -> ProbeResult:
        systemctl = shutil.which("systemctl")
        if systemctl is None:
            raise FileNotFoundError("systemctl is not installed here: is this a systemd host?")
        proc = await asyncio.create_subprocess_exec(
            systemctl,
            "show",
            "--no-pager",
            f"--property={','.join(_PROPERTIES)}",
            "--",
            unit,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            text = (err or out).decode("utf-8", "replace").strip().splitlines()
            raise ProtocolError(f"systemctl show failed: {text[0] if text else proc.returncode}")
        props = dict(
            line.split("=", 1)
            for line in out.decode("utf-8", "replace").splitlines()
            if "=" in line
        )
        restarts = int(props["NRestarts"]) if props.get("NRestarts", "").isdigit() else None
        body: dict[str, Any] = {
            "load": props.get("LoadState"),
            "active": props.get("ActiveState"),
            "sub": props.get("SubState"),
            "result": props.get("Result"),
            "restarts": restarts,
        }
        if props.get("LoadState") == "not-found":
            return done(ctx, start, body, ("status", f"unit {unit} is not installed"))
        if props.get("ActiveState") not in _UP:
            state = f"{props.get('ActiveState')}/{props.get('SubState')}"
            return done(ctx, start, body, ("status", f"unit {unit} is {state}"))
        return done(ctx, start, body, _restarts_problem(restarts, limit))

    return await guarded(spec, ctx, run, f"systemctl show {unit}")


async def probe_docker(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """GET /containers/NAME/json on the Docker socket: running, health, restarts."""
    name = spec.host or ""
    socket_path = str(setting(spec, ctx, "socket", DOCKER_SOCKET))
    limit = number(spec, ctx, "max_restarts")

    async def run(start: float) -> ProbeResult:
        import httpx

        if not os.path.exists(socket_path):
            raise FileNotFoundError(
                f"the Docker socket {socket_path} does not exist: is Docker running here?"
            )
        transport = httpx.AsyncHTTPTransport(uds=socket_path)
        async with httpx.AsyncClient(transport=transport, timeout=ctx.timeout) as http:
            answer = await http.get(f"http://docker/containers/{name}/json")
        if answer.status_code == 404:
            return done(ctx, start, None, ("status", f"no container named {name}"))
        if answer.status_code != 200:
            raise ProtocolError(f"the Docker API answered {answer.status_code}")
        state = answer.json().get("State") or {}
        health = (state.get("Health") or {}).get("Status")
        body: dict[str, Any] = {
            "status": state.get("Status"),
            "running": bool(state.get("Running")),
            "health": health,
            "restarts": answer.json().get("RestartCount"),
            "exit_code": state.get("ExitCode"),
        }
        if not state.get("Running"):
            return done(ctx, start, body, ("status", f"container {name} is {state.get('Status')}"))
        if health == "unhealthy":
            return done(ctx, start, body, ("status", f"container {name} is unhealthy"))
        return done(ctx, start, body, _restarts_problem(body["restarts"], limit))

    return await guarded(spec, ctx, run, "the Docker API")
