"""Audit queries: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.core import audit
from kapda_gql.core.pagination import window
from kapda_gql.graphql.audit.types import AuditEntry, AuditEntryConnection, AuditEntryEdge, AuditFilter
from kapda_gql.graphql.common import PageInfo, parse_optional_id
from kapda_gql.graphql.context import Info


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Admin: the audit log, newest first.")
    async def audit_log(
        self,
        info: Info,
        filter: AuditFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> AuditEntryConnection:
        f = filter or AuditFilter()
        page, total = await audit.list_entries(
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
            window(first=first, after=after, last=last, before=before, default=50),
        )
        return AuditEntryConnection(
            edges=[
                AuditEntryEdge(cursor=c, node=AuditEntry.of(e))
                for e, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo.of(page),
            total_count=total,
        )
