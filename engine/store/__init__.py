"""The encrypted store: models, database access, migrations, the engine lock, and the
persistence of targets, contacts, subscribers, rules, result history and quotas.
"""
