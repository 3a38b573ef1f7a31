"""The GraphQL layer: types, resolvers, dataloaders, permissions glue and the one error mapping."""
