"""Benchmarks of kapda-gql against the database's own limit: `python -m bench all` (see README.md)."""
