from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from kapda_gql.catalog.services import check_page_size, decode_cursor, encode_cursor
from kapda_gql.core import audit
from kapda_gql.db import models
from kapda_gql.graphql.auth.types import User, load_user
from kapda_gql.graphql.common import PageInfo, parse_optional_id
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


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Admin: the audit log, newest first.")
    async def audit_log(
        self, info: Info, filter: AuditFilter | None = None, first: int | None = 50, after: str | None = None
    ) -> AuditEntryConnection:
        size = 50 if first is None else first
        check_page_size(size)
        f = filter or AuditFilter()
        cursor = decode_cursor(after, [datetime, int]) if after else None
        entries, has_next, total = await audit.list_entries(
            info.context.uow(),
            info.context.actor,
            audit.AuditFilter(
                action=f.action,
                actor_id=parse_optional_id(f.actor_id, "filter.actorId"),
                target_type=f.target_type,
                target_id=f.target_id,
                request_id=f.request_id,
                since=f.since,
                until=f.until,
            ),
            first=size,
            after=(cursor[0], cursor[1]) if cursor else None,
        )
        return AuditEntryConnection(
            edges=[AuditEntryEdge(cursor=encode_cursor(e.at, e.id), node=AuditEntry.of(e)) for e in entries],
            page_info=PageInfo(
                has_next_page=has_next,
                end_cursor=encode_cursor(entries[-1].at, entries[-1].id) if entries else None,
            ),
            total_count=total,
        )
