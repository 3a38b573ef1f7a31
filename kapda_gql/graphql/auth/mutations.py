"""Auth mutations: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.auth import services as auth
from kapda_gql.domain import enums
from kapda_gql.graphql.auth.types import AuthPayload, LoginInput, LogoutPayload, RegisterInput, User
from kapda_gql.graphql.common import parse_id
from kapda_gql.graphql.context import Info


def _payload(result: auth.AuthResult) -> AuthPayload:
    return AuthPayload(token=result.token, expires_at=result.expires_at, user=User.of(result.user))


@strawberry.type
class AuthMutation:
    @strawberry.mutation
    async def register(self, info: Info, input: RegisterInput) -> AuthPayload:
        s = info.context.runtime.settings
        result = await auth.register(
            info.context.uow(),
            info.context.actor,
            email=input.email,
            password=input.password,
            name=input.name,
            secret=s.jwt_secret,
            ttl=s.token_ttl_seconds,
        )
        return _payload(result)

    @strawberry.mutation
    async def login(self, info: Info, input: LoginInput) -> AuthPayload:
        s = info.context.runtime.settings
        result = await auth.login(
            info.context.uow(),
            info.context.actor,
            email=input.email,
            password=input.password,
            secret=s.jwt_secret,
            ttl=s.token_ttl_seconds,
        )
        return _payload(result)

    @strawberry.mutation(description="Revoke this token everywhere and empty the cart.")
    async def logout(self, info: Info) -> LogoutPayload:
        principal = info.context.require_principal()
        await auth.logout(info.context.uow(), info.context.actor, principal)
        return LogoutPayload(ok=True, clear_local_storage=True)

    @strawberry.mutation(description="Admin: suspend or reactivate a user.")
    async def set_user_status(self, info: Info, user_id: strawberry.ID, status: enums.UserStatus) -> User:
        row = await auth.set_user_status(
            info.context.uow(), info.context.actor, parse_id(user_id, "userId"), enums.UserStatus(status)
        )
        return User.of(row)
