from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from kapda_gql.db import models
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.types.common import PageInfo, parse_optional_id
from kapda_gql.graphql.types.users import User
from kapda_gql.services import audit
from kapda_gql.services.catalog import check_page_size, decode_cursor, encode_cursor


@strawberry.type
class AuditEntry:
    row: strawberry.Private[models.AuditEntry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def action(self) -> str:
        return self.row.action

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        if self.row.actor_id is None:
            return None
        user = await info.context.loaders.user.load(self.row.actor_id)
        return User.of(user) if user else None

    @strawberry.field
    def target_type(self) -> str:
        return self.row.target_type

    @strawberry.field
    def target_id(self) -> str:
        return self.row.target_id

    @strawberry.field
    def changes(self) -> JSON | None:
        return cast(JSON | None, self.row.changes)

    @strawberry.field
    def request_id(self) -> str | None:
        return self.row.request_id

    @strawberry.field
    def ip(self) -> str | None:
        return str(self.row.ip) if self.row.ip is not None else None

    @strawberry.field
    def user_agent(self) -> str | None:
        return self.row.user_agent

    @strawberry.field
    def at(self) -> datetime:
        return self.row.at


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
            edges=[AuditEntryEdge(cursor=encode_cursor(e.at, e.id), node=AuditEntry(row=e)) for e in entries],
            page_info=PageInfo(
                has_next_page=has_next,
                end_cursor=encode_cursor(entries[-1].at, entries[-1].id) if entries else None,
            ),
            total_count=total,
        )


QUERY = AuditQuery
