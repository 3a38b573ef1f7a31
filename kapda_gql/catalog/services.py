"""The catalog: browsing (visibility per role, filters, full-text search, keyset pages) and management."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from kapda_gql.core import audit
from kapda_gql.db.models import Designer, Product, Variant
from kapda_gql.db.sql import Record
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain import lifecycles, pricing, validation
from kapda_gql.domain.enums import ProductStatus
from kapda_gql.domain.errors import BadUserInput, NotFound, QueryTooComplex
from kapda_gql.domain.policy import (
    Actor,
    can_see_product,
    check_manage_product,
    product_owner,
    require_admin,
    require_catalog_manager,
)
from kapda_gql.domain.stock import LIVE_VARIANT_SQL
from kapda_gql.domain.text import LINE_CONTROL_RE

MAX_PAGE = 100
MAX_BIGINT = 2**63 - 1
T = TypeVar("T")
MAX_STOCK = validation.MAX_STOCK
MAX_PRICE = validation.MAX_PRICE
# PostgreSQL refuses NUL in text (a 500 if it got that far), and no title or size needs a control character.
CONTROL_MESSAGE = validation.CONTROL_MESSAGE


class ProductSort(StrEnum):
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    RELEVANCE = "RELEVANCE"


class ReviewDecision(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


# --- rows for browsing ---------------------------------------------------------------------------
# The browse path reads plain rows into these records instead of ORM instances: building,
# tracking and garbage-collecting ORM objects was the largest cost of a catalog page we own.


@dataclass(frozen=True, slots=True)
class ProductRecord:
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
class VariantRecord:
    id: int
    product_id: int
    sku: str
    size: str | None
    color: str | None
    price: int | None
    stock: int
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class DesignerRecord:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One product of a catalog page with everything a page shows of it."""

    product: ProductRecord
    designer: DesignerRecord
    variants: list[VariantRecord]


@dataclass(frozen=True, slots=True)
class ProductFilter:
    search: str | None = None
    category: str | None = None
    designer_id: int | None = None
    min_price: int | None = None
    max_price: int | None = None
    size: str | None = None
    color: str | None = None
    in_stock: bool | None = None
    status: ProductStatus | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool


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


# --- cursors ---------------------------------------------------------------------------------


# json.dumps with separators builds a new encoder per call; a page encodes one cursor per edge.
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))


def encode_cursor(*values: Any) -> str:
    raw = _CURSOR_JSON.encode([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    """Opaque to clients; a cursor we did not make is BAD_USER_INPUT, never a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        out: list[Any] = []
        for value, kind in zip(values, kinds, strict=True):
            if kind is datetime:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:  # ours always carry their offset
                    raise ValueError
                out.append(moment)
            elif kind is float:
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise ValueError
                out.append(float(value))
            elif kind is int:
                # Sort keys and ids are BIGINTs: a bigger number is not ours and would fail in the driver.
                if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_BIGINT:
                    raise ValueError
                out.append(value)
            else:
                out.append(kind(value))
        return out
    except (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
        raise BadUserInput("after", "is not a valid cursor") from None


def check_page_size(first: int, limit: int = MAX_PAGE) -> None:
    if first < 0:
        raise BadUserInput("first", "must not be negative")
    if first > limit:
        raise QueryTooComplex(f"first may be at most {limit}", limit=limit)


# --- browsing --------------------------------------------------------------------------------


def _validate_filter(flt: ProductFilter) -> None:
    errors = []
    if flt.min_price is not None and flt.min_price < 0:
        errors.append(("filter.minPrice", "must not be negative"))
    if flt.max_price is not None and flt.max_price < 0:
        errors.append(("filter.maxPrice", "must not be negative"))
    if flt.min_price is not None and flt.max_price is not None and flt.min_price > flt.max_price:
        errors.append(("filter.minPrice", "must not exceed maxPrice"))
    for name, value in (
        ("search", flt.search),
        ("category", flt.category),
        ("size", flt.size),
        ("color", flt.color),
    ):
        if value is not None and len(value) > 200:
            errors.append((f"filter.{name}", "must be at most 200 characters"))
        elif value is not None and LINE_CONTROL_RE.search(value):
            errors.append((f"filter.{name}", CONTROL_MESSAGE))
    if errors:
        raise BadUserInput(errors)


# Browsing runs plain SQL on lean units (kapda_gql.db.sql): through the ORM session a statement
# cost several times its driver's CPU. Statements are assembled only from the fixed fragments
# below; every value, the caller's included, travels as a $n parameter.

_PRODUCT_FIELDS = tuple(f.name for f in dataclasses.fields(ProductRecord))
_PRODUCT_COLUMNS = ", ".join(f"p.{name}" for name in _PRODUCT_FIELDS)
_LIVE_VARIANT_WHERE = LIVE_VARIANT_SQL


class _Where:
    """The conditions on ``products p`` and their parameters, numbered in the order they are bound."""

    __slots__ = ("args", "conditions", "tsquery")

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []
        self.tsquery: str | None = None  # the search's tsquery expression, for ranking by relevance

    def bind(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)


def _filtered(actor: Actor, flt: ProductFilter) -> _Where:
    _validate_filter(flt)
    where = _Where()
    # The status is a constant, not a parameter, so every plan (generic ones too) can use
    # ix_products_status_created for the newest-first page.
    if actor.is_admin:
        where.add("p.deleted_at IS NULL")
    elif actor.is_designer:
        mine = where.bind(actor.designer_id)
        where.add(f"p.deleted_at IS NULL AND (p.status = 'APPROVED' OR p.designer_id = {mine})")
    else:
        where.add("p.deleted_at IS NULL AND p.status = 'APPROVED'")
    search = flt.search.strip() if flt.search else ""
    if search:
        where.tsquery = f"websearch_to_tsquery('english', {where.bind(search)})"
        where.add(f"p.search_vector @@ {where.tsquery}")
    if flt.category:
        # Lower-cased in Python as before, compared with lower() for ix_products_category_lower.
        where.add(f"lower(p.category) = {where.bind(flt.category.strip().lower())}")
    if flt.designer_id is not None:
        where.add(f"p.designer_id = {where.bind(flt.designer_id)}")
    if flt.min_price is not None:
        where.add(f"p.price >= {where.bind(flt.min_price)}")
    if flt.max_price is not None:
        where.add(f"p.price <= {where.bind(flt.max_price)}")
    if flt.size:
        where.add(_LIVE_VARIANT_WHERE.format(f"lower(v.size) = {where.bind(flt.size.strip().lower())}"))
    if flt.color:
        where.add(_LIVE_VARIANT_WHERE.format(f"lower(v.color) = {where.bind(flt.color.strip().lower())}"))
    if flt.in_stock is not None:
        in_stock = _LIVE_VARIANT_WHERE.format("v.stock > 0")
        where.add(in_stock if flt.in_stock else f"NOT {in_stock}")
    if flt.status is not None:
        where.add(f"p.status = {where.bind(flt.status.value)}")
    return where


@dataclass(frozen=True, slots=True)
class _Keyset:
    key: str  # the sort key over ``p``; ``p.id`` breaks its ties in the same direction
    name: str  # the key's column in the page's rows
    descending: bool
    kinds: tuple[type, type]  # the cursor's value kinds


_NEWEST = _Keyset("p.created_at", "created_at", True, (datetime, int))
_PRICE_ASC = _Keyset("p.price", "price", False, (int, int))
_PRICE_DESC = _Keyset("p.price", "price", True, (int, int))


def _keyset(sort: ProductSort, where: _Where) -> _Keyset:
    if sort is ProductSort.RELEVANCE and where.tsquery is not None:
        rank = f"ts_rank_cd(p.search_vector, {where.tsquery})::float8"
        return _Keyset(rank, "rank", True, (float, int))
    if sort is ProductSort.PRICE_ASC:
        return _PRICE_ASC
    if sort is ProductSort.PRICE_DESC:
        return _PRICE_DESC
    return _NEWEST


def _page_sql(where: _Where, keyset: _Keyset, limit: str) -> str:
    """The page (filtered, keyset-limited) with its designers and live variants, in one statement.

    The page is limited before the joins so that only its own rows are joined; the outer ORDER BY
    restores the order, which the joins need not keep. A product's variants arrive as one JSON
    array of arrays (json_agg over none is NULL: a product without live variants).
    """
    order = "DESC" if keyset.descending else "ASC"
    rank = "" if keyset.name in _PRODUCT_FIELDS else f", {keyset.key} AS {keyset.name}"
    # Only fixed fragments of this module go into the text; the values are all parameters.
    return (
        f"SELECT d.name AS designer_name, lv.variants, p.* FROM ("  # noqa: S608
        f"SELECT {_PRODUCT_COLUMNS}{rank} FROM products p WHERE {where.sql}"
        f" ORDER BY {keyset.key} {order}, p.id {order} LIMIT {limit}) p"
        " JOIN designers d ON d.id = p.designer_id"
        " LEFT JOIN LATERAL (SELECT json_agg(json_build_array(v.id, v.sku, v.size, v.color, v.price, v.stock)"
        " ORDER BY v.id) AS variants FROM variants v WHERE v.product_id = p.id AND v.deleted_at IS NULL) lv ON true"
        f" ORDER BY p.{keyset.name} {order}, p.id {order}"
    )


_PRODUCT_SLICE = slice(2, 2 + len(_PRODUCT_FIELDS))


def _entry(row: Record) -> CatalogEntry:
    product = ProductRecord(*row[_PRODUCT_SLICE])
    pid = product.id
    return CatalogEntry(
        product=product,
        designer=DesignerRecord(product.designer_id, row[0]),
        variants=[VariantRecord(v[0], pid, v[1], v[2], v[3], v[4], v[5], None) for v in row[1] or ()],
    )


async def list_products(
    uow: UnitOfWork,
    actor: Actor,
    flt: ProductFilter,
    sort: ProductSort = ProductSort.NEWEST,
    *,
    first: int = 20,
    after: str | None = None,
    page_limit: int = MAX_PAGE,
) -> Page[CatalogEntry]:
    """One page of the catalog with designers and variants: one statement, whatever the page size."""
    check_page_size(first, page_limit)
    where = _filtered(actor, flt)
    keyset = _keyset(sort, where)
    if after:
        key, tie = decode_cursor(after, keyset.kinds)
        # A row comparison is the same order as "key beyond, or key equal and id beyond", and
        # an index on (key, id) serves it as one range.
        beyond = "<" if keyset.descending else ">"
        where.add(f"({keyset.key}, p.id) {beyond} ({where.bind(key)}, {where.bind(tie)})")
    # One row more than asked for says whether there is a next page.
    query = _page_sql(where, keyset, where.bind(first + 1))
    async with uow.lean().read():
        rows = await uow.sql.fetch(query, *where.args)
    page = rows[:first]
    name = keyset.name
    return Page(
        items=[_entry(row) for row in page],
        cursors=[encode_cursor(row[name], row["id"]) for row in page],
        has_next_page=len(rows) > first,
    )


async def count_products(uow: UnitOfWork, actor: Actor, flt: ProductFilter) -> int:
    where = _filtered(actor, flt)
    async with uow.lean().read():
        # Only fixed fragments of this module go into the text; the values are all parameters.
        query = f"SELECT count(*) FROM products p WHERE {where.sql}"  # noqa: S608
        return int(await uow.sql.fetchval(query, *where.args))


async def get_product(
    uow: UnitOfWork, actor: Actor, *, product_id: int | None, slug: str | None
) -> Product | None:
    if (product_id is None) == (slug is None):
        raise BadUserInput(
            [("id", "give exactly one of id and slug"), ("slug", "give exactly one of id and slug")]
        )
    if slug is not None and LINE_CONTROL_RE.search(slug):
        raise BadUserInput("slug", CONTROL_MESSAGE)
    cond = Product.id == product_id if product_id is not None else Product.slug == slug
    async with uow.read():
        # Deleted products are hidden from everyone, admins included (API.md: "hidden everywhere").
        product = await uow.session.scalar(select(Product).where(cond, Product.deleted_at.is_(None)))
    if product is None or not can_see_product(
        actor, status=product.status, designer_id=product.designer_id, deleted=False
    ):
        return None
    return product


# --- batch loads for DataLoaders (one statement per batch) --------------------------------------


async def designers_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[DesignerRecord | None]:
    async with uow.lean().read():
        rows = await uow.sql.fetch("SELECT id, name FROM designers WHERE id = ANY($1)", list(ids))
    by_id = {row[0]: DesignerRecord(row[0], row[1]) for row in rows}
    return [by_id.get(i) for i in ids]


async def variants_by_product_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[VariantRecord]]:
    async with uow.lean().read():
        rows = await uow.sql.fetch(
            "SELECT id, product_id, sku, size, color, price, stock FROM variants"
            " WHERE product_id = ANY($1) AND deleted_at IS NULL ORDER BY product_id, id",
            list(ids),
        )
    grouped: dict[int, list[VariantRecord]] = defaultdict(list)
    for vid, pid, sku, size, color, price, stock in rows:
        grouped[pid].append(VariantRecord(vid, pid, sku, size, color, price, stock, None))
    return [grouped.get(i, []) for i in ids]


async def variants_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[Variant | None]:
    async with uow.read():
        rows = (await uow.session.execute(select(Variant).where(Variant.id.in_(ids)))).scalars().all()
    by_id = {v.id: v for v in rows}
    return [by_id.get(i) for i in ids]


async def products_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[Product | None]:
    async with uow.read():
        rows = (await uow.session.execute(select(Product).where(Product.id.in_(ids)))).scalars().all()
    by_id = {p.id: p for p in rows}
    return [by_id.get(i) for i in ids]


def price_of(variant_price: int | None, product_price: int) -> int:
    """A variant's own price overrides its product's (the rule is ``pricing.effective_price``)."""
    return pricing.effective_price(variant_price, product_price)


# --- management ------------------------------------------------------------------------------


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:200] or "product"


_validate_variants = validation.variant_problems
_validate_fields = validation.product_field_problems


async def _insert_variants(
    uow: UnitOfWork, product_id: int, variants: Sequence[VariantSpec], prefix: str
) -> None:
    for v in variants:
        uow.session.add(
            Variant(
                product_id=product_id,
                sku=v.sku,
                size=v.size.strip() if v.size else None,
                color=v.color.strip() if v.color else None,
                price=v.price,
                stock=v.stock,
            )
        )
    try:
        await uow.session.flush()
    except IntegrityError as error:
        if "sku" in str(error.orig):
            raise BadUserInput(f"{prefix}.sku", "a variant with this SKU already exists") from None
        raise


async def _insert_with_free_slug(uow: UnitOfWork, **values: Any) -> Product:
    """The title's slug, or a suffixed one when it is taken, even by a create committing right now."""
    base = _slugify(values["title"])
    taken = await uow.session.scalar(select(exists().where(Product.slug == base)))
    attempts = 4
    for attempt in range(attempts):
        product = Product(
            slug=base if attempt == 0 and not taken else f"{base}-{secrets.token_hex(3)}", **values
        )
        try:
            # A savepoint: losing the race for a slug must not cost the whole transaction.
            async with uow.session.begin_nested():
                uow.session.add(product)
                await uow.session.flush()
        except IntegrityError as error:
            if "slug" not in str(error.orig) or attempt == attempts - 1:
                raise
            continue
        return product
    raise AssertionError("unreachable")


async def create_product(
    uow: UnitOfWork, actor: Actor, spec: ProductSpec, *, designer_id: int | None = None
) -> Product:
    """Designers create for themselves; admins must name the designer."""
    require_catalog_manager(actor)
    owner, owner_problems = product_owner(actor, designer_id)
    errors = _validate_fields(spec.title, spec.description, spec.category, spec.price, spec.images)
    if not spec.variants:
        errors.append(("variants", "at least one variant is required"))
    errors += _validate_variants(spec.variants)
    errors += owner_problems
    if errors:
        raise BadUserInput(errors)
    assert owner is not None

    async def work(uow: UnitOfWork) -> Product:
        if await uow.session.get(Designer, owner) is None:
            raise BadUserInput("designerId", "no such designer")
        product = await _insert_with_free_slug(
            uow,
            designer_id=owner,
            title=spec.title.strip(),
            description=spec.description,
            category=spec.category.strip(),
            price=spec.price,
            images=list(spec.images),
            status=ProductStatus.DRAFT.value,
        )
        await _insert_variants(uow, product.id, spec.variants, "variants")
        await audit.record(
            uow,
            actor,
            "product.created",
            "Product",
            product.id,
            {"title": product.title, "price": spec.price, "variants": [v.sku for v in spec.variants]},
        )
        await uow.commit()
        return product

    return await uow.run(work)


async def _locked_product(uow: UnitOfWork, actor: Actor, product_id: int) -> Product:
    product = await uow.session.scalar(
        select(Product).where(Product.id == product_id, Product.deleted_at.is_(None)).with_for_update()
    )
    if product is None:
        raise NotFound("Product not found")
    check_manage_product(actor, designer_id=product.designer_id, status=product.status)
    return product


def _snapshot(product: Product) -> dict[str, Any]:
    return {
        "title": product.title,
        "description": product.description,
        "category": product.category,
        "price": product.price,
        "images": list(product.images or []),
        "status": product.status,
    }


async def update_product(uow: UnitOfWork, actor: Actor, product_id: int, changes: ProductChanges) -> Product:
    require_catalog_manager(actor)
    errors = _validate_fields(
        changes.title, changes.description, changes.category, changes.price, changes.images
    )
    errors += _validate_variants(changes.add_variants, "addVariants")
    if errors:
        raise BadUserInput(errors)

    async def work(uow: UnitOfWork) -> Product:
        product = await _locked_product(uow, actor, product_id)
        before = _snapshot(product)
        values: dict[str, Any] = {
            k: v
            for k, v in {
                "title": changes.title.strip() if changes.title is not None else None,
                "description": changes.description,
                "category": changes.category.strip() if changes.category is not None else None,
                "price": changes.price,
                "images": list(changes.images) if changes.images is not None else None,
            }.items()
            if v is not None
        }
        for key, value in values.items():
            setattr(product, key, value)
        product.updated_at = datetime.now(UTC)
        await uow.session.flush()
        await _insert_variants(uow, product.id, changes.add_variants, "addVariants")
        delta: dict[str, Any] = audit.diff(before, _snapshot(product))
        if changes.add_variants:
            delta["addedVariants"] = [v.sku for v in changes.add_variants]
        await audit.record(uow, actor, "product.updated", "Product", product.id, delta)
        await uow.commit()
        await uow.session.refresh(product)
        return product

    return await uow.run(work)


async def submit_product(uow: UnitOfWork, actor: Actor, product_id: int) -> Product:
    require_catalog_manager(actor)

    async def work(uow: UnitOfWork) -> Product:
        product = await _locked_product(uow, actor, product_id)
        lifecycles.check_submit(ProductStatus(product.status))
        await _set_product_status(
            uow, actor, product, ProductStatus.PENDING_REVIEW, "product.submitted", None
        )
        await uow.commit()
        return product

    return await uow.run(work)


async def _set_product_status(
    uow: UnitOfWork, actor: Actor, product: Product, to: ProductStatus, action: str, reason: str | None
) -> None:
    before = product.status
    product.status = to.value
    product.rejection_reason = reason if to is ProductStatus.REJECTED else None
    product.updated_at = datetime.now(UTC)
    await uow.session.flush()
    changes: dict[str, Any] = {"status": {"from": before, "to": to.value}}
    if reason:
        changes["reason"] = reason
    await audit.record(uow, actor, action, "Product", product.id, changes)


async def review_product(
    uow: UnitOfWork, actor: Actor, product_id: int, decision: ReviewDecision, reason: str | None
) -> Product:
    require_admin(actor)
    reason = validation.optional_note(reason, "reason")
    if decision is ReviewDecision.REJECT and not reason:
        raise BadUserInput("reason", "is required when rejecting")
    target = ProductStatus.APPROVED if decision is ReviewDecision.APPROVE else ProductStatus.REJECTED

    async def work(uow: UnitOfWork) -> Product:
        product = await _locked_product(uow, actor, product_id)
        lifecycles.check_review(ProductStatus(product.status), target)
        action = "product.approved" if target is ProductStatus.APPROVED else "product.rejected"
        await _set_product_status(uow, actor, product, target, action, reason)
        await uow.commit()
        return product

    return await uow.run(work)


async def delete_product(uow: UnitOfWork, actor: Actor, product_id: int) -> bool:
    require_catalog_manager(actor)

    async def work(uow: UnitOfWork) -> bool:
        product = await _locked_product(uow, actor, product_id)
        product.deleted_at = datetime.now(UTC)
        await uow.session.flush()
        await audit.record(uow, actor, "product.deleted", "Product", product.id, {"title": product.title})
        await uow.commit()
        return True

    return await uow.run(work)


async def set_stock(uow: UnitOfWork, actor: Actor, variant_id: int, stock: int) -> Variant:
    require_catalog_manager(actor)
    if problems := validation.stock_problems(stock):
        raise BadUserInput(problems)

    async def work(uow: UnitOfWork) -> Variant:
        row = (
            await uow.session.execute(
                select(Variant, Product.designer_id, Product.status)
                .join(Product, Product.id == Variant.product_id)
                .where(Variant.id == variant_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
                .with_for_update(of=Variant)
            )
        ).one_or_none()
        if row is None:
            raise NotFound("Variant not found")
        variant, designer_id, status = row
        check_manage_product(actor, designer_id=designer_id, status=status)
        before = variant.stock
        await uow.session.execute(update(Variant).where(Variant.id == variant_id).values(stock=stock))
        variant.stock = stock
        await audit.record(
            uow,
            actor,
            "stock.set",
            "Variant",
            variant_id,
            {"stock": {"from": before, "to": stock}, "sku": variant.sku},
        )
        await uow.commit()
        return variant

    return await uow.run(work)
