"""Secrets at rest and in logs: sealing and fingerprints (crypto), the key-file half of a key
rotation (rotation; re-sealing the stored rows is engine.store.rekey's), and the log filter that
redacts addresses, URLs and chat ids (privacy).
"""
