"""The services: one module per capability, each owning its transactions.

A service function takes a ``UnitOfWork`` and an ``Actor`` and returns plain
data (dataclasses or model rows); it never sees HTTP or GraphQL.
"""
