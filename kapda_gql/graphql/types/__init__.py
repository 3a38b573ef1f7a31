"""GraphQL object types. They wrap service results; services never see them."""
