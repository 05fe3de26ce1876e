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
}
_cache: dict[str, Probe] = {}


def get_probe(kind: str) -> Probe:
    """The probe coroutine for a kind (heartbeat targets are passive and have none)."""
    probe = _cache.get(kind)
    if probe is None:
        probe = importlib.import_module(_MODULES[kind]).probe
        _cache[kind] = probe
    return probe


__all__ = ["Probe", "ProbeContext", "ProbeResult", "get_probe"]
