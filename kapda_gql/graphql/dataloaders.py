"""Per-request DataLoaders: nested fields load in one statement per batch, never one per parent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from kapda_gql.db.models import Designer, Product, User, Variant
from kapda_gql.db.uow import Database, UnitOfWork
from kapda_gql.services import catalog, orders

K = TypeVar("K")
V = TypeVar("V")


def _loader(db: Database, fn: Callable[[UnitOfWork, Sequence[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        return await fn(db.uow(), keys)

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, db: Database) -> None:
        self.designer: DataLoader[int, Designer | None] = _loader(db, catalog.designers_by_ids)
        self.product: DataLoader[int, Product | None] = _loader(db, catalog.products_by_ids)
        self.variant: DataLoader[int, Variant | None] = _loader(db, catalog.variants_by_ids)
        self.variants_by_product: DataLoader[int, list[Variant]] = _loader(
            db, catalog.variants_by_product_ids
        )
        self.user: DataLoader[int, User | None] = _loader(db, orders.users_by_ids)
        self.order_items: DataLoader[int, list[orders.OrderItem]] = _loader(db, orders.items_by_order_ids)
        self.status_history: DataLoader[int, list[orders.OrderStatusChange]] = _loader(
            db, orders.history_by_order_ids
        )
