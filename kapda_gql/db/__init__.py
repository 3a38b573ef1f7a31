"""Persistence: the models, the engine (embedded or external PostgreSQL) and the unit of work."""
