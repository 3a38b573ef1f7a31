"""HTTP plumbing shared by the GraphQL and REST routes (request ids, middleware)."""
