"""The encrypted store: models, database access, migrations, the engine lock, the key canary,
re-sealing every row under a rotated key (rekey), and the persistence of targets, contacts,
subscribers, rules, result history and quotas.
"""
