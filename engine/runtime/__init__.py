"""The engine as one running unit: the Engine facade and the console's view of it,
start-up (bootstrap), the supervisor of background tasks, the watchdog, health,
and metrics counters.
"""
