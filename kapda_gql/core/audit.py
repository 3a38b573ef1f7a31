"""The audit log: written inside the transaction of the change it records.

So no change goes unaudited and no audit entry describes a change that rolled back.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select

from kapda_gql.core.pagination import Keyset, Page, Window, encode_cursor, page_of
from kapda_gql.db.models import AuditEntry
from kapda_gql.db.uow import OrmUnit, Unit, UnitOfWork
from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.policy import Actor, require_admin
from kapda_gql.domain.text import has_control


def _safe_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


# What an entry records, decided here whether it is written on its own (record) or by a larger
# statement that makes the change it records (the checkout's order statement).
COLUMNS = "action, actor_id, target_type, target_id, changes, request_id, ip, user_agent"


def actor_values(actor: Actor) -> tuple[int | None, str | None, str | None, str | None]:
    """What an entry records of its actor: (actor_id, request_id, ip, user_agent), as COLUMNS orders them."""
    return (
        actor.user_id,
        actor.request_id,
        _safe_ip(actor.ip),
        _agent(actor),
    )


def _agent(actor: Actor) -> str | None:
    """The software that made the change: the client's user agent, or which part of the system acted."""
    if actor.user_agent:
        return actor.user_agent[:512]
    return f"kapda-gql/{actor.source}" if actor.source else None


def changes_json(changes: Mapping[str, Any] | None) -> str | None:
    return json.dumps(dict(changes)) if changes is not None else None


# An entry as a named part of a larger statement that makes the change it records (the checkout's
# order statement): ``entry_part`` is its INSERT, reading the target id from ``source``; its values
# are ``entry_values``, keyed by the names the part uses.
def entry_part(target_id_sql: str, source: str) -> str:
    return (
        f"INSERT INTO audit_entries ({COLUMNS}) "  # noqa: S608 (constants of the caller and this module)
        f"SELECT :audit_action, :audit_actor_id, :audit_target_type, {target_id_sql}, "
        ":audit_changes::jsonb, :audit_request_id, :audit_ip::inet, :audit_user_agent "
        f"FROM {source}"
    )


def entry_values(
    actor: Actor, action: str, target_type: str, changes: Mapping[str, Any] | None
) -> dict[str, Any]:
    actor_id, request_id, ip, user_agent = actor_values(actor)
    return {
        "audit_action": action,
        "audit_actor_id": actor_id,
        "audit_target_type": target_type,
        "audit_changes": changes_json(changes),
        "audit_request_id": request_id,
        "audit_ip": ip,
        "audit_user_agent": user_agent,
    }


_RECORD = (
    f"INSERT INTO audit_entries ({COLUMNS}) "  # noqa: S608 (a constant of this module)
    "VALUES ($1, $2, $3, $4, CAST($5 AS jsonb), $6, CAST($7 AS inet), $8)"
)


async def record(
    tx: Unit,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """One entry, in whichever unit of work (ORM or lean) holds the change it records."""
    actor_id, request_id, ip, user_agent = actor_values(actor)
    await tx.sql.execute(
        _RECORD,
        action,
        actor_id,
        target_type,
        str(target_id),
        changes_json(changes),
        request_id,
        ip,
        user_agent,
    )


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields that changed, as {field: {"from": old, "to": new}}."""
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor_id: int | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None


def _filtered(flt: AuditFilter) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if flt.action:
        stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == flt.actor_id)
    if flt.target_type:
        stmt = stmt.where(AuditEntry.target_type == flt.target_type)
    if flt.target_id:
        stmt = stmt.where(AuditEntry.target_id == flt.target_id)
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    if flt.request_id:
        stmt = stmt.where(AuditEntry.request_id == flt.request_id)
    return stmt


async def list_entries(
    uow: UnitOfWork, actor: Actor, flt: AuditFilter, win: Window
) -> tuple[Page[AuditEntry], int]:
    """Newest first, a page forward or backward; returns (page, total_count)."""
    require_admin(actor)
    bad = [
        (f"filter.{name}", "must be at most 200 characters without control characters")
        for name, value in (
            ("action", flt.action),
            ("targetType", flt.target_type),
            ("targetId", flt.target_id),
            ("requestId", flt.request_id),
        )
        if value is not None and (len(value) > 200 or has_control(value))
    ]
    if bad:
        raise BadUserInput(bad)
    keys = Keyset((AuditEntry.at, AuditEntry.id), descending=True)
    cursor = win.decode([datetime, int])
    async with uow.orm(read=True) as tx:
        stmt = _filtered(flt)
        total = (await tx.session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        beyond = False
        if cursor is not None:
            beyond = bool(await tx.session.scalar(select(stmt.where(keys.behind(win, cursor)).exists())))
            stmt = stmt.where(keys.ahead(win, cursor))
        rows = (
            (await tx.session.execute(stmt.order_by(*keys.order_by(win)).limit(win.size + 1))).scalars().all()
        )
    page = page_of(
        rows, win, item=lambda e: e, cursor=lambda e: encode_cursor(e.at, e.id), beyond_cursor=beyond
    )
    return page, int(total)


async def purge_older_than(tx: OrmUnit, cutoff: datetime) -> int:
    result = await tx.session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
