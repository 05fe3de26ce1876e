"""SysAlert engine: probes, state, alerts and the encrypted store. Knows nothing of screens."""

__version__ = "0.1.0"
