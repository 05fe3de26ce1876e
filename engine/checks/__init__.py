"""One check of one target: target specs as users type them, probe options, Gatus-style
conditions, the probes themselves, and running a check with timeout and retries.
"""
