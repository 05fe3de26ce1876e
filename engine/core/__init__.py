"""The engine's vocabulary: target records, user errors, durations, events, the per-target
state machine and the size limits. Plain data and pure rules; no I/O, no store.
"""
