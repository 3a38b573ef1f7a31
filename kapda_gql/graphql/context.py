"""The per-request GraphQL context: who is calling, from where, and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request
from starlette.responses import Response

from kapda_gql.auth import services as auth
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.errors import Unauthenticated
from kapda_gql.domain.policy import Actor
from kapda_gql.graphql.dataloaders import Loaders
from kapda_gql.runtime import Runtime


@dataclass
class Context:
    runtime: Runtime
    request: Request
    response: Response
    request_id: str
    ip: str | None
    user_agent: str | None
    token: str | None
    loaders: Loaders
    principal: auth.Principal | None = None
    _actor: Actor | None = field(default=None, repr=False)

    def uow(self) -> UnitOfWork:
        return self.runtime.db.uow()

    async def authenticate(self) -> None:
        """A bad, expired or revoked token is an error, never a silent anonymous request."""
        if self.token is not None:
            self.principal = await auth.authenticate(
                self.uow(), self.token, secret=self.runtime.settings.jwt_secret
            )
        self._actor = None

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            p = self.principal
            self._actor = Actor(
                user_id=p.user_id if p else None,
                role=p.role if p else None,
                designer_id=p.designer_id if p else None,
                request_id=self.request_id,
                ip=self.ip,
                user_agent=self.user_agent,
            )
        return self._actor

    def require_principal(self) -> auth.Principal:
        if self.principal is None:
            raise Unauthenticated()
        return self.principal


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        # A malformed header is a bad token, not an anonymous request.
        return header
    return value.strip()


Info = strawberry.Info[Context, None]
