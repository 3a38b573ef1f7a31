"""Resolvers: thin adapters from GraphQL arguments to service calls, one module per capability."""
