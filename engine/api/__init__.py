"""The HTTP API (Starlette/uvicorn): routes, schema, /health and /metrics, the fast ping
path, and the client the console and CLI use when attached to a daemon.
"""
