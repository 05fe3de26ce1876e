"""The engine's vocabulary: target records, user errors, durations, events, the per-target
state machine, the size limits and the test faults (SYSALERT_FAULT). Plain data and pure rules;
no I/O, no store.
"""
