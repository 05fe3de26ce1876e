"""Process-wide tuning for the daemon (`sysalert --daemon`), which owns its process.

The engine does not tune the interpreter itself: embedded in the console, a test or a tool it
leaves the process as it found it. The perf scripts apply the same tuning as the daemon so that
their figures are the daemon's.
"""

from __future__ import annotations

import gc
import sys


def tune_process() -> None:
    """Before the engine starts. The store writer runs in a worker thread; a short GIL switch
    interval lets it take its turn within half a millisecond instead of five, which bounds
    group-commit latency."""
    sys.setswitchinterval(0.0005)


def freeze_loaded() -> None:
    """Once the engine has loaded its targets. Targets, specs and contexts live as long as the
    engine: keep them out of the cyclic collector's scans, and let short-lived result objects pile
    up longer between gen-0 runs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
