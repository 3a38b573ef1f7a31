"""Reading the ledger: a variant's movements, for its designer and admins (domain.policy)."""

from __future__ import annotations

from kapda_gql.core.pagination import Page, Window, encode_cursor, page_of
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.errors import NotFound
from kapda_gql.domain.policy import Actor, check_read_stock_movements
from kapda_gql.stock import store
from kapda_gql.stock.store import MovementRow


async def variant_movements(uow: UnitOfWork, actor: Actor, variant_id: int, win: Window) -> Page[MovementRow]:
    """The variant's movements, newest first."""
    decoded = win.decode([int])
    cursor = int(decoded[0]) if decoded else None
    async with uow.lean(read=True) as tx:
        owner = await store.variant_owner(tx, variant_id)
        if owner is None:
            raise NotFound("Variant not found")
        check_read_stock_movements(
            actor, designer_id=owner.designer_id, status=owner.status, deleted=owner.deleted
        )
        rows, beyond = await store.movements_page(
            tx, variant_id, cursor=cursor, size=win.size, backward=win.backward
        )
    return page_of(rows, win, item=lambda m: m, cursor=lambda m: encode_cursor(m.id), beyond_cursor=beyond)
