"""One check of one target: target specs as users type them, probe options, the field checks
`target add` and the config share (validators), Gatus-style conditions, the probes themselves,
and running a check with timeout and retries.
"""
