"""Auth queries: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.graphql.auth.types import User
from kapda_gql.graphql.context import Info


@strawberry.type
class AuthQuery:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    async def me(self, info: Info) -> User | None:
        principal = info.context.principal
        if principal is None:
            return None
        row = await info.context.loaders.user.load(principal.user_id)
        return User.of(row) if row else None
