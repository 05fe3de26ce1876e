"""Shared by the service-probe tests: run one check the way the scheduler does, a server that
accepts and never answers, and the `need` for each local service (a skip that says how to start
it, or a failure under SYSALERT_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.checks.probes import ProbeResult
from engine.checks.runner import make_context, run_check
from engine.checks.specs import parse_spec
from tests.conftest import free_port, need

# name, port, the start command the machine notes give (also in .ci/run)
SERVICES = {
    "postgres": (
        "PostgreSQL",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "mysql": (
        "MariaDB",
        3306,
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
    "redis": ("Redis", 6379, "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''"),
    "amqp": ("RabbitMQ", 5672, "rabbitmq-server -detached"),
    "mqtt": ("Mosquitto", 1883, "mosquitto -d -c /etc/mosquitto/mosquitto.conf"),
    "nats": ("NATS", 4222, "nats-server -a 127.0.0.1 -p 4222 -js (in the background)"),
}


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), 1.0):
            return True
    except OSError:
        return False


def need_service(kind: str) -> None:
    name, port, start = SERVICES[kind]
    need(f"{name} on 127.0.0.1:{port}", answers(port), f"start it: {start}")


async def check(
    spec: str,
    timeout: float = 3.0,
    conditions: list[str] | None = None,
    **options: Any,
) -> ProbeResult:
    """One check through the runner, as the scheduler and `sysalert check` run it."""
    from engine.checks.options import check_options

    parsed = parse_spec(spec)
    ctx = make_context(timeout, check_options(parsed.kind, options), conditions, {})
    return await run_check(parsed, ctx)


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake) and never says a word:
    the server that hangs, which every probe must turn into a timeout."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    return free_port()


def throwaway(prefix: str = "sysalert_t") -> str:
    """A name for a database, user, vhost or topic this test creates and removes."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
