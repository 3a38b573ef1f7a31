"""Per-request DataLoaders: nested fields load in one statement per batch, never one per parent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TypeVar

from strawberry.dataloader import DataLoader

from kapda_gql.catalog import browse as catalog
from kapda_gql.catalog.model import DesignerRow, PendingChanges, ProductRow, VariantRow
from kapda_gql.db.models import User
from kapda_gql.db.uow import Database, UnitOfWork
from kapda_gql.orders import services as orders

K = TypeVar("K")
V = TypeVar("V")


def _loader(db: Database, fn: Callable[[UnitOfWork, Sequence[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        return await fn(db.uow(), keys)

    return DataLoader(load_fn=load)


class Loaders:
    """Made per request; each loader is built on first use (most requests need one or two)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @cached_property
    def designer(self) -> DataLoader[int, DesignerRow | None]:
        return _loader(self._db, catalog.designers_by_ids)

    @cached_property
    def product(self) -> DataLoader[int, ProductRow | None]:
        return _loader(self._db, catalog.products_by_ids)

    @cached_property
    def variant(self) -> DataLoader[int, VariantRow | None]:
        return _loader(self._db, catalog.variants_by_ids)

    @cached_property
    def variants_by_product(self) -> DataLoader[int, list[VariantRow]]:
        return _loader(self._db, catalog.variants_by_product_ids)

    @cached_property
    def pending_changes(self) -> DataLoader[int, PendingChanges | None]:
        return _loader(self._db, catalog.pending_changes_by_ids)

    @cached_property
    def user(self) -> DataLoader[int, User | None]:
        return _loader(self._db, orders.users_by_ids)

    @cached_property
    def order_items(self) -> DataLoader[int, list[orders.OrderItem]]:
        return _loader(self._db, orders.items_by_order_ids)

    @cached_property
    def order_item_ids(self) -> DataLoader[int, list[int]]:
        return _loader(self._db, orders.item_ids_by_order_ids)

    @cached_property
    def refunds(self) -> DataLoader[int, list[orders.Refund]]:
        return _loader(self._db, orders.refunds_by_order_ids)

    @cached_property
    def status_history(self) -> DataLoader[int, list[orders.OrderStatusChange]]:
        return _loader(self._db, orders.history_by_order_ids)
