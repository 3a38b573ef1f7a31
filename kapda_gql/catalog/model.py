"""What the catalog hands out and takes in: plain values, one type per concept.

Every read (a catalog page, one product, a DataLoader batch, a mutation's result) returns these
rows, never ORM instances: the GraphQL layer wraps one type per concept, and the browse path
skips the cost of building and tracking ORM objects, which was the largest cost of a page we own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kapda_gql.domain.enums import ProductStatus


class ProductSort(StrEnum):
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    RELEVANCE = "RELEVANCE"


class ReviewDecision(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


@dataclass(frozen=True, slots=True)
class ProductRow:
    id: int
    designer_id: int
    slug: str
    title: str
    description: str
    category: str
    price: int
    currency: str
    images: list[str]
    status: str
    rejection_reason: str | None
    deleted_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VariantRow:
    id: int
    product_id: int
    sku: str
    size: str | None
    color: str | None
    price: int | None
    stock: int  # sellable now: on hand less the units open checkouts hold (domain/stock.py)
    deleted_at: datetime | None = None
    held: int = 0  # units open checkouts hold (Variant.held, for its designer and admins)


@dataclass(frozen=True, slots=True)
class DesignerRow:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One product of a catalog page with everything a page shows of it."""

    product: ProductRow
    designer: DesignerRow
    variants: list[VariantRow]


@dataclass(frozen=True, slots=True)
class Category:
    """Products share a category by its slug; its name is the spelling most of them use."""

    name: str
    slug: str
    product_count: int


@dataclass(frozen=True, slots=True)
class ProductFilter:
    search: str | None = None
    category: str | None = None  # a category's slug or name, in any case
    designer_id: int | None = None
    min_price: int | None = None
    max_price: int | None = None
    size: str | None = None
    color: str | None = None
    in_stock: bool | None = None
    status: ProductStatus | None = None


@dataclass(frozen=True, slots=True)
class VariantSpec:
    sku: str
    size: str | None = None
    color: str | None = None
    price: int | None = None
    stock: int = 0


@dataclass(frozen=True, slots=True)
class ProductSpec:
    title: str
    description: str
    category: str
    price: int
    images: Sequence[str] = ()
    variants: Sequence[VariantSpec] = ()


@dataclass(frozen=True, slots=True)
class ProductChanges:
    title: str | None = None
    description: str | None = None
    category: str | None = None
    price: int | None = None
    images: Sequence[str] | None = None
    add_variants: Sequence[VariantSpec] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class PendingChanges:
    """An approved product's content edits awaiting review (None: not changed); the live product
    keeps its approved content until an admin approves these."""

    submitted_at: datetime
    title: str | None = None
    description: str | None = None
    category: str | None = None
    images: Sequence[str] | None = None
    add_variants: Sequence[VariantSpec] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "submittedAt": self.submitted_at.isoformat(),
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "images": list(self.images) if self.images is not None else None,
            "addVariants": [
                {"sku": v.sku, "size": v.size, "color": v.color, "price": v.price, "stock": v.stock}
                for v in self.add_variants
            ],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PendingChanges:
        return PendingChanges(
            submitted_at=datetime.fromisoformat(data["submittedAt"]),
            title=data.get("title"),
            description=data.get("description"),
            category=data.get("category"),
            images=data.get("images"),
            add_variants=tuple(VariantSpec(**v) for v in data.get("addVariants") or ()),
        )
