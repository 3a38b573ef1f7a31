"""Audit types."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from kapda_gql.db import models
from kapda_gql.graphql.auth.types import User, load_user
from kapda_gql.graphql.common import PageInfo
from kapda_gql.graphql.context import Info


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    action: str
    target_type: str
    target_id: str
    changes: JSON | None
    request_id: str | None
    ip: str | None
    user_agent: str | None
    at: datetime
    actor_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            changes=cast(JSON | None, row.changes),
            request_id=row.request_id,
            ip=str(row.ip) if row.ip is not None else None,
            user_agent=row.user_agent,
            at=row.at,
            actor_id=row.actor_id,
        )

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        return await load_user(info, self.actor_id)


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class AuditFilter:
    action: str | None = None
    actor_id: strawberry.ID | None = None
    target_type: str | None = None
    target_id: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
