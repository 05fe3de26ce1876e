"""The encrypted store: models, database access, migrations, the engine lock, the key canary,
re-sealing every row under a rotated key (rekey), and the persistence of targets, contacts,
subscribers, rules, incidents (and their notifications as alerting reads them), maintenance
windows, benchmarks, result history and quotas. The only package that imports SQLAlchemy or
SQLModel.
"""
