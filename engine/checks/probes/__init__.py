"""Probe registry: kind name -> probe coroutine, imported lazily so start-up stays light."""

from __future__ import annotations

import importlib

from engine.checks.probes.base import Probe, ProbeContext, ProbeResult

_MODULES = {
    "tcp": "engine.checks.probes.tcp",
    "http": "engine.checks.probes.http",
    "icmp": "engine.checks.probes.icmp",
    "dns": "engine.checks.probes.dns",
    "tls": "engine.checks.probes.tls",
    "command": "engine.checks.probes.command",
    "system": "engine.checks.probes.system",
    # the service kinds: module:function where one module serves a family
    "postgres": "engine.checks.probes.sql:probe_postgres",
    "mysql": "engine.checks.probes.sql:probe_mysql",
    "redis": "engine.checks.probes.redis:probe",
    "mqtt": "engine.checks.probes.messaging:probe_mqtt",
    "amqp": "engine.checks.probes.messaging:probe_amqp",
    "nats": "engine.checks.probes.messaging:probe_nats",
    "smtp": "engine.checks.probes.smtp:probe",
    "ssh": "engine.checks.probes.ssh:probe",
    "udp": "engine.checks.probes.udp:probe",
    "systemd": "engine.checks.probes.host:probe_systemd",
    "docker": "engine.checks.probes.host:probe_docker",
}
_cache: dict[str, Probe] = {}


def get_probe(kind: str) -> Probe:
    """The probe coroutine for a kind (heartbeat targets are passive and have none)."""
    probe = _cache.get(kind)
    if probe is None:
        module, _, name = _MODULES[kind].partition(":")
        probe = getattr(importlib.import_module(module), name or "probe")
        _cache[kind] = probe
    return probe


__all__ = ["Probe", "ProbeContext", "ProbeResult", "get_probe"]
