"""The stock ledger in GraphQL: ``stockMovements``."""
