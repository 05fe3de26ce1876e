"""Redis probe: PING over redis-py's asyncio client (rediss:// with TLS), and with option
info=role,connected_clients,used_memory those INFO fields as [BODY] JSON.

One connection per check, closed after it; no pool is kept between checks, so a probe never holds
a client slot on the server.
"""

from __future__ import annotations

from typing import Any

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import client, credentials, done, guarded, setting
from engine.checks.service_specs import uses_tls
from engine.checks.specs import TargetSpec


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """PING, then the INFO fields asked for; a missing field is null in [BODY]."""
    user, password, path = credentials(spec)
    fields = [f.strip() for f in str(setting(spec, ctx, "info", "")).split(",") if f.strip()]

    async def run(start: float) -> ProbeResult:
        asyncio_redis = client("redis.asyncio", "redis")
        retry = client("redis.asyncio.retry", "redis").Retry(
            client("redis.backoff", "redis").NoBackoff(), 0
        )  # the default retries a refused connect until the timeout hides why
        tls: dict[str, Any] = {"ssl": True, "ssl_cert_reqs": "none"} if uses_tls(spec) else {}
        conn = asyncio_redis.Redis(
            host=spec.host,
            port=spec.port,
            db=int(path or 0),
            username=user or None,
            password=password,
            socket_connect_timeout=ctx.timeout,
            socket_timeout=ctx.timeout,
            single_connection_client=True,
            retry=retry,
            **tls,
        )
        try:
            if not await conn.ping():
                return done(ctx, start, None, ("protocol", "PING got no PONG"), spec.host)
            body = None
            if fields:
                info = await conn.info("all")
                body = {f: info.get(f) for f in fields}
        finally:
            await conn.aclose()
        return done(ctx, start, body, None, spec.host)

    return await guarded(spec, ctx, run, "PING")
