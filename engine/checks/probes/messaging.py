"""Message broker probes: MQTT (aiomqtt), AMQP 0-9-1 (aiormq) and NATS (nats-py).

Each logs in, proves the broker answers, and optionally does the one thing operators care about:
an MQTT publish/subscribe round trip on topic=, an AMQP queue's depth and consumers
([BODY].messages, [BODY].consumers) for queue=, a NATS request/reply on subject=. Connections are
made per check and closed after it, with reconnecting turned off: a probe reports, it never retries
behind the scheduler's back.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from time import perf_counter
from typing import Any
from urllib.parse import quote

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import client, credentials, done, guarded, setting
from engine.checks.service_specs import uses_tls
from engine.checks.specs import TargetSpec

# aiormq logs a failed connect at ERROR with the address before raising it; the probe reports it.
logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)


def _tls_context() -> ssl.SSLContext:
    """Encrypted but not verified, as the tls:// probe's default: internal brokers often use
    private CAs; the tls:// kind is the one that judges certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def probe_mqtt(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """CONNECT/CONNACK; with topic=, subscribe, publish a nonce and wait for it to come back."""
    user, password, _path = credentials(spec)
    topic = setting(spec, ctx, "topic")

    async def run(start: float) -> ProbeResult:
        aiomqtt = client("aiomqtt", "mqtt")
        async with aiomqtt.Client(
            spec.host or "",
            spec.port or 1883,
            username=user,
            password=password,
            identifier=f"sysalert-{uuid.uuid4().hex[:12]}",
            timeout=ctx.timeout,
            tls_context=_tls_context() if uses_tls(spec) else None,
        ) as mqtt:
            if not topic:
                return done(ctx, start, None, None, spec.host)
            nonce = uuid.uuid4().hex.encode()
            await mqtt.subscribe(topic, qos=1)
            sent = perf_counter()
            await mqtt.publish(topic, payload=nonce, qos=1)
            async for message in mqtt.messages:
                if bytes(message.payload) == nonce:
                    break
            rtt = (perf_counter() - sent) * 1000.0
        return done(ctx, start, {"round_trip_ms": round(rtt, 3)}, None, spec.host)

    return await guarded(spec, ctx, run, f"round trip on topic {topic}" if topic else "CONNACK")


async def probe_amqp(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Log in, open a channel; with queue=, its depth and consumers (a passive declare, which
    never creates the queue)."""
    user, password, vhost = credentials(spec)
    queue = setting(spec, ctx, "queue")
    scheme = "amqps" if uses_tls(spec) else "amqp"
    if user is None:  # RabbitMQ's default login, as every AMQP client assumes it
        user, password = "guest", "guest"
    login = f"{quote(user, safe='')}:{quote(password or '', safe='')}@"
    url = f"{scheme}://{login}{spec.host}:{spec.port}/{quote(vhost or '/', safe='')}"

    async def run(start: float) -> ProbeResult:
        aiormq = client("aiormq", "amqp")
        conn = await aiormq.connect(url, context=_tls_context() if uses_tls(spec) else None)
        try:
            channel = await conn.channel()
            body: Any = None
            if queue:
                try:
                    ok = await channel.queue_declare(queue, passive=True)
                except aiormq.exceptions.ChannelNotFoundEntity:
                    problem = ("protocol", f"queue {queue!r} does not exist in this vhost")
                    return done(ctx, start, None, problem, spec.host)
                body = {"messages": ok.message_count, "consumers": ok.consumer_count}
        finally:
            await conn.close()
        return done(ctx, start, body, None, spec.host)

    return await guarded(spec, ctx, run, "login and channel")


async def probe_nats(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """CONNECT and a PING/PONG round trip; with subject=, a request whose reply must contain
    expect= (when given)."""
    user, password, _path = credentials(spec)
    subject = setting(spec, ctx, "subject")
    payload = str(setting(spec, ctx, "payload", "ping")).encode()
    expect = setting(spec, ctx, "expect")

    seen: list[BaseException] = []

    async def quiet(*args: Any) -> None:
        """nats-py prints every error it sees unless given a callback; keep them to classify."""
        seen.extend(a for a in args if isinstance(a, BaseException))

    async def run(start: float) -> ProbeResult:
        nats = client("nats", "nats")
        scheme = "tls" if uses_tls(spec) else "nats"
        try:
            nc = await nats.connect(
                servers=[f"{scheme}://{spec.host}:{spec.port}"],
                user=user,
                password=password,
                connect_timeout=ctx.timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would mean "for ever" to nats-py's server pool
                reconnect_time_wait=0,
                error_cb=quiet,
                disconnected_cb=quiet,
                closed_cb=quiet,
                name="sysalert",
            )
        except nats.errors.NoServersError:
            if seen:
                raise seen[-1] from None  # the real cause: refused, timeout, authorization
            raise
        try:
            sent = perf_counter()
            if subject:
                try:
                    reply = await nc.request(subject, payload, timeout=ctx.timeout)
                except nats.errors.NoRespondersError:
                    problem = ("protocol", f"nothing answers requests on {subject!r}")
                    return done(ctx, start, None, problem, spec.host)
                data = reply.data.decode("utf-8", "replace")
                rtt = (perf_counter() - sent) * 1000.0
                body: dict[str, Any] = {"round_trip_ms": round(rtt, 3), "reply": data[:1000]}
                if expect is not None and str(expect) not in data:
                    problem = ("keyword", f"the reply does not contain {str(expect)[:60]!r}")
                    return done(ctx, start, body, problem, spec.host)
            else:
                await nc.flush(timeout=ctx.timeout)
                body = {"round_trip_ms": round((perf_counter() - sent) * 1000.0, 3)}
        finally:
            await nc.close()
        return done(ctx, start, body, None, spec.host)

    return await guarded(spec, ctx, run, f"request on {subject}" if subject else "PONG")
