"""Probe registry: kind name -> probe coroutine, imported lazily so start-up stays light."""

from __future__ import annotations

import importlib

from engine.probes.base import Probe, ProbeContext, ProbeResult

_MODULES = {
    "tcp": "engine.probes.tcp",
    "http": "engine.probes.http",
    "icmp": "engine.probes.icmp",
    "dns": "engine.probes.dns",
    "tls": "engine.probes.tls",
    "command": "engine.probes.command",
    "system": "engine.probes.system",
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
