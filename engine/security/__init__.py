"""Secrets at rest and in logs: sealing and fingerprints (crypto), re-keying everything
(rotation), and the log filter that redacts addresses, URLs and chat ids (privacy).
"""
