from __future__ import annotations

from datetime import datetime

import strawberry

from kapda_gql.db import models
from kapda_gql.domain import enums
from kapda_gql.graphql.common import Role, UserStatus
from kapda_gql.graphql.context import Info


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str
    role: enums.Role
    status: enums.UserStatus
    created_at: datetime

    @classmethod
    def of(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            name=row.name,
            role=Role(row.role),
            status=UserStatus(row.status),
            created_at=row.created_at,
        )


async def load_user(info: Info, user_id: int | None) -> User | None:
    """A user referenced by id (an actor of a history row or an audit entry), through the loader."""
    if user_id is None:
        return None
    row = await info.context.loaders.user.load(user_id)
    return User.of(row) if row else None


@strawberry.type
class AuthPayload:
    token: str
    expires_at: datetime
    user: User


@strawberry.type
class LogoutPayload:
    ok: bool
    clear_local_storage: bool


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str


@strawberry.input
class LoginInput:
    email: str
    password: str
