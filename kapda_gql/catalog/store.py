# ruff: noqa: S608 (every statement here is built from this module's own fixed fragments)
"""All of the catalog's SQL, plain SQL on the unit's connection (lean units: see kapda_gql.db.sql).

One style throughout: statements are written with ``:name`` placeholders and their values passed
by name (``kapda_gql.db.sql.Query``); the browse page, whose conditions depend on the filter, binds each value as
it adds the condition that uses it (``_Where.bind``). Either way the text holds only fixed
fragments of this module and every value travels as a parameter. Constraint violations are
recognised by the constraint's name (kapda_gql.db.models.NAMING).

Longer than ~400 lines for a stated reason: the rule is one store per capability, and the browse
page's builder (filters, sorts, keysets both ways, categories) is most of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from kapda_gql.catalog.model import (
    CatalogEntry,
    Category,
    DesignerRow,
    PendingChanges,
    ProductFilter,
    ProductRow,
    ProductSort,
    VariantRow,
    VariantSpec,
)
from kapda_gql.core.pagination import Page, Window, encode_cursor, page_of
from kapda_gql.db import models
from kapda_gql.db.sql import Query, Record, violated_constraint
from kapda_gql.db.uow import LeanUnit, Unit
from kapda_gql.domain.ledger import StockReason
from kapda_gql.domain.policy import CatalogScope
from kapda_gql.domain.stock import LIVE_VARIANT_SQL, held_sql, sellable, sellable_sql
from kapda_gql.stock import movements

# --- rows -------------------------------------------------------------------------------------

_PRODUCT_FIELDS = tuple(f.name for f in dataclasses.fields(ProductRow))
_PRODUCT_COLUMNS = ", ".join(f"p.{name}" for name in _PRODUCT_FIELDS)
# The row as stored: ``stock`` is on hand (held units included).
_ON_HAND_COLUMNS = "v.id, v.product_id, v.sku, v.size, v.color, v.price, v.stock, v.deleted_at"
# ``stock`` is what a customer can buy now, ``held`` what open checkouts hold (domain/stock.py).
_VARIANT_COLUMNS = (
    f"v.id, v.product_id, v.sku, v.size, v.color, v.price, {sellable_sql('v')}, v.deleted_at, {held_sql('v')}"
)


def _product(row: Record, start: int = 0) -> ProductRow:
    return ProductRow(*row[start : start + len(_PRODUCT_FIELDS)])


def _variant(row: Record) -> VariantRow:
    return VariantRow(*row[:9])


# --- the scope and the filter -------------------------------------------------------------------

_LIVE_VARIANT = LIVE_VARIANT_SQL


def category_slug_sql(expr: str) -> str:
    """A category's slug, the one definition: lower-cased, each run of anything but a-z and 0-9 one
    '-', none at either end ("Block Prints" -> "block-prints"); a name with none of those letters
    is its own slug, lower-cased and trimmed."""
    return (
        f"coalesce(nullif(trim(both '-' from regexp_replace(lower({expr}), '[^a-z0-9]+', '-', 'g')), ''),"
        f" lower(trim({expr})))"
    )


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


def _scoped(scope: CatalogScope) -> _Where:
    where = _Where()
    # The status is a constant, not a parameter, so every plan (generic ones too) can use
    # ix_products_status_created for the newest-first page.
    if scope.everything:
        where.add("p.deleted_at IS NULL")
    elif scope.own_designer_id is not None:
        mine = where.bind(scope.own_designer_id)
        where.add(f"p.deleted_at IS NULL AND (p.status = 'APPROVED' OR p.designer_id = {mine})")
    else:
        where.add("p.deleted_at IS NULL AND p.status = 'APPROVED'")
    return where


def _filtered(scope: CatalogScope, flt: ProductFilter) -> _Where:
    """The scope's products that match a (validated) filter."""
    where = _scoped(scope)
    search = flt.search.strip() if flt.search else ""
    if search:
        where.tsquery = f"websearch_to_tsquery('english', {where.bind(search)})"
        where.add(f"p.search_vector @@ {where.tsquery}")
    if flt.category and flt.category.strip():
        wanted = where.bind(flt.category.strip().lower())
        # The name in any case (served by ix_products_category_lower), or the slug of the name.
        where.add(
            f"(lower(p.category) = {wanted} OR {category_slug_sql('p.category')} = {category_slug_sql(wanted)})"
        )
    if flt.designer_id is not None:
        where.add(f"p.designer_id = {where.bind(flt.designer_id)}")
    if flt.min_price is not None:
        where.add(f"p.price >= {where.bind(flt.min_price)}")
    if flt.max_price is not None:
        where.add(f"p.price <= {where.bind(flt.max_price)}")
    if flt.size:
        where.add(_LIVE_VARIANT.format(f"lower(v.size) = {where.bind(flt.size.strip().lower())}"))
    if flt.color:
        where.add(_LIVE_VARIANT.format(f"lower(v.color) = {where.bind(flt.color.strip().lower())}"))
    if flt.in_stock is not None:
        in_stock = _LIVE_VARIANT.format(f"{sellable_sql('v')} > 0")
        where.add(in_stock if flt.in_stock else f"NOT {in_stock}")
    if flt.status is not None:
        where.add(f"p.status = {where.bind(flt.status.value)}")
    return where


# --- the browse page ----------------------------------------------------------------------------


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


# A variant's units on hand and its held units, each read once: what a customer can buy now is
# worked out from the two by ``stock.sellable`` (the SQL form would read the holds a second time).
_PAGE_OF = (
    " JOIN designers d ON d.id = p.designer_id"
    " LEFT JOIN LATERAL (SELECT json_agg(json_build_array(v.id, v.sku, v.size, v.color, v.price,"
    f" v.stock, {held_sql('v')})"
    " ORDER BY v.id) AS variants FROM variants v WHERE v.product_id = p.id AND v.deleted_at IS NULL) lv ON true"
)
_ENTRY_START = 3  # beyond, designer_name, variants, then the product's columns


def _page_sql(where: _Where, keyset: _Keyset, win: Window, limit: str, beyond: str | None) -> str:
    """The page (filtered, keyset-limited) with its designers and live variants, in one statement.

    The page is limited before the joins so that only its own rows are joined; the outer ORDER BY
    restores the order, which the joins need not keep. A product's variants arrive as one JSON
    array of arrays (json_agg over none is NULL: a product without live variants). With a cursor,
    the statement also says whether anything lies on the cursor's other side (``beyond``), on a
    row of its own that holds no product when the page is empty.
    """
    # A backward page reads the order reversed from its cursor; page_of turns it round.
    order = "DESC" if keyset.descending != win.backward else "ASC"
    rank = "" if keyset.name in _PRODUCT_FIELDS else f", {keyset.key} AS {keyset.name}"
    inner = (
        f"SELECT {_PRODUCT_COLUMNS}{rank} FROM products p WHERE {where.sql}"
        f" ORDER BY {keyset.key} {order}, p.id {order} LIMIT {limit}"
    )
    ordered = f" ORDER BY p.{keyset.name} {order}, p.id {order}"
    if beyond is None:
        return f"SELECT false AS beyond, d.name AS designer_name, lv.variants, p.* FROM ({inner}) p{_PAGE_OF}{ordered}"
    return (
        f"SELECT o.beyond, d.name AS designer_name, lv.variants, p.* FROM (SELECT {beyond} AS beyond) o"
        f" LEFT JOIN (({inner}) p{_PAGE_OF}) ON true{ordered}"
    )


_ENTRY_END = _ENTRY_START + len(_PRODUCT_FIELDS)


def _entry(row: Record) -> CatalogEntry:
    product = ProductRow(*row[_ENTRY_START:_ENTRY_END])
    pid = product.id
    return CatalogEntry(
        product,
        DesignerRow(product.designer_id, row[1]),
        [
            VariantRow(v[0], pid, v[1], v[2], v[3], v[4], sellable(v[5], v[6]), None, v[6])
            for v in row[2] or ()
        ],
    )


async def page(
    tx: LeanUnit, scope: CatalogScope, flt: ProductFilter, sort: ProductSort, win: Window
) -> Page[CatalogEntry]:
    where = _filtered(scope, flt)
    keyset = _keyset(sort, where)
    beyond = None
    cursor = win.decode(keyset.kinds)
    if cursor is not None:
        # A row comparison is the same order as "key beyond, or key equal and id beyond", and an
        # index on (key, id) serves it as one range.
        ahead = "<" if keyset.descending != win.backward else ">"
        back = ">=" if ahead == "<" else "<="
        position = f"({where.bind(cursor[0])}, {where.bind(cursor[1])})"
        beyond = (
            f"EXISTS (SELECT 1 FROM products p WHERE {where.sql} AND ({keyset.key}, p.id) {back} {position})"
        )
        where.add(f"({keyset.key}, p.id) {ahead} {position}")
    # One row more than asked for says whether there is a page further on.
    query = _page_sql(where, keyset, win, where.bind(win.size + 1), beyond)
    rows = await tx.sql.fetch(query, *where.args)
    # The sort key's column in the row (a rank follows the product's columns), the id at the start.
    key = _ENTRY_START + _PRODUCT_FIELDS.index(keyset.name) if keyset.name in _PRODUCT_FIELDS else _ENTRY_END
    return page_of(
        [r for r in rows if r[_ENTRY_START] is not None],
        win,
        item=_entry,
        cursor=lambda r: encode_cursor(r[key], r[_ENTRY_START]),
        beyond_cursor=bool(rows and rows[0][0]),
    )


async def count(tx: LeanUnit, scope: CatalogScope, flt: ProductFilter) -> int:
    where = _filtered(scope, flt)
    return int(await tx.sql.fetchval(f"SELECT count(*) FROM products p WHERE {where.sql}", *where.args))


async def categories(tx: LeanUnit, scope: CatalogScope) -> list[Category]:
    where = _scoped(scope)
    slug = category_slug_sql("p.category")
    rows = await tx.sql.fetch(
        # The name most of its products spell it with (ties: the first in order).
        f"SELECT mode() WITHIN GROUP (ORDER BY p.category) AS name, {slug} AS slug, count(*) AS n"
        f" FROM products p WHERE {where.sql} GROUP BY 2 ORDER BY 1, 2",
        *where.args,
    )
    return [Category(name=r["name"], slug=r["slug"], product_count=int(r["n"])) for r in rows]


# --- single rows and DataLoader batches (one statement per batch) ----------------------------------

_PRODUCT_BY_ID = Query(f"SELECT {_PRODUCT_COLUMNS} FROM products p WHERE p.id = :id AND p.deleted_at IS NULL")
_PRODUCT_BY_SLUG = Query(
    f"SELECT {_PRODUCT_COLUMNS} FROM products p WHERE p.slug = :slug AND p.deleted_at IS NULL"
)
_PRODUCTS = Query(f"SELECT {_PRODUCT_COLUMNS} FROM products p WHERE p.id = ANY(:ids)")
_DESIGNERS = Query("SELECT id, name FROM designers WHERE id = ANY(:ids)")
_DESIGNER_EXISTS = Query("SELECT EXISTS (SELECT 1 FROM designers WHERE id = :id)")
_VARIANTS_OF = Query(
    f"SELECT {_VARIANT_COLUMNS} FROM variants v"
    " WHERE v.product_id = ANY(:ids) AND v.deleted_at IS NULL ORDER BY v.product_id, v.id"
)
_VARIANTS = Query(f"SELECT {_VARIANT_COLUMNS} FROM variants v WHERE v.id = ANY(:ids)")


async def product(
    tx: Unit | LeanUnit, *, product_id: int | None = None, slug: str | None = None
) -> ProductRow | None:
    """A product that is not deleted (deleted ones are hidden from everyone, admins included)."""
    if product_id is not None:
        row = await _PRODUCT_BY_ID.fetchrow(tx, id=product_id)
    else:
        row = await _PRODUCT_BY_SLUG.fetchrow(tx, slug=slug)
    return _product(row) if row is not None else None


async def products_by_ids(tx: LeanUnit, ids: Sequence[int]) -> list[ProductRow | None]:
    by_id = {r["id"]: _product(r) for r in await _PRODUCTS.fetch(tx, ids=list(ids))}
    return [by_id.get(i) for i in ids]


async def designers_by_ids(tx: LeanUnit, ids: Sequence[int]) -> list[DesignerRow | None]:
    by_id = {r[0]: DesignerRow(r[0], r[1]) for r in await _DESIGNERS.fetch(tx, ids=list(ids))}
    return [by_id.get(i) for i in ids]


async def variants_by_product_ids(tx: LeanUnit, ids: Sequence[int]) -> list[list[VariantRow]]:
    grouped: dict[int, list[VariantRow]] = defaultdict(list)
    for r in await _VARIANTS_OF.fetch(tx, ids=list(ids)):
        grouped[r["product_id"]].append(_variant(r))
    return [grouped.get(i, []) for i in ids]


async def variants_by_ids(tx: LeanUnit, ids: Sequence[int]) -> list[VariantRow | None]:
    by_id = {r["id"]: _variant(r) for r in await _VARIANTS.fetch(tx, ids=list(ids))}
    return [by_id.get(i) for i in ids]


async def designer_exists(tx: Unit | LeanUnit, designer_id: int) -> bool:
    return bool(await _DESIGNER_EXISTS.fetchval(tx, id=designer_id))


# --- management ---------------------------------------------------------------------------------

_SLUG_TAKEN = Query("SELECT EXISTS (SELECT 1 FROM products WHERE slug = :slug)")
_INSERT_PRODUCT = Query(
    "INSERT INTO products (designer_id, slug, title, description, category, price, images, status)"
    " VALUES (:designer_id, :slug, :title, :description, :category, :price, :images, :status)"
    # Losing the race for a slug to a create committing right now is no error: the caller tries another.
    f" ON CONFLICT ON CONSTRAINT uq_products_slug DO NOTHING RETURNING {_PRODUCT_COLUMNS.replace('p.', '')}"
)
# A new variant's first stock is its INITIAL movement, written by the same statement.
_INSERT_VARIANT = Query(
    "WITH made AS (INSERT INTO variants (product_id, sku, size, color, price, stock)"
    " VALUES (:product_id, :sku, :size, :color, :price, :stock) RETURNING id, stock) "
    + movements.insert_from(
        "made", reason=StockReason.INITIAL, delta="made.stock", stock_after="made.stock", actor_id=":actor_id"
    )
)
_LOCK_PRODUCT = Query(
    f"SELECT {_PRODUCT_COLUMNS} FROM products p WHERE p.id = :id AND p.deleted_at IS NULL FOR UPDATE"
)
_UPDATE_PRODUCT = Query(
    "UPDATE products SET title = :title, description = :description, category = :category, price = :price,"
    " images = :images, status = :status, rejection_reason = :rejection_reason, updated_at = now()"
    f" WHERE id = :id RETURNING {_PRODUCT_COLUMNS.replace('p.', '')}"
)
_DELETE_PRODUCT = Query("UPDATE products SET deleted_at = now(), updated_at = now() WHERE id = :id")
_LOCK_VARIANT = Query(
    f"SELECT {_VARIANT_COLUMNS}, p.designer_id, p.status FROM variants v JOIN products p ON p.id = v.product_id"
    " WHERE v.id = :id AND v.deleted_at IS NULL AND p.deleted_at IS NULL FOR UPDATE OF v"
)
# Stock set by hand moves the catalog version (core/catalog_version.py) in the same statement, so
# shared cached answers drop it at COMMIT; stock moved by sales does not, and may show late.
# The stock named is what a customer can buy now: held units stay held, on hand on top of it.
# Its SET movement (the difference, with the note) is written by the same statement.
_SET_STOCK = Query(
    f"WITH changed AS (UPDATE variants v SET stock = :stock + {held_sql('v')}"
    " FROM (SELECT kapda_bump_catalog()) AS bumped"
    f" WHERE v.id = :id RETURNING {_ON_HAND_COLUMNS}), "
    + movements.cte(
        "moved",
        "changed",
        reason=StockReason.SET,
        delta=":delta",
        stock_after="changed.stock",
        actor_id=":actor_id",
        note=":note",
    )
    + f" SELECT {_VARIANT_COLUMNS} FROM changed v"
)


_PENDING_OF = Query("SELECT id, pending_changes FROM products WHERE id = ANY(:ids)")
_SET_PENDING = Query("UPDATE products SET pending_changes = CAST(:changes AS jsonb) WHERE id = :id")
_SKUS_TAKEN = Query("SELECT sku FROM variants WHERE sku = ANY(:skus) ORDER BY sku")


async def pending_changes_by_ids(tx: Unit | LeanUnit, ids: Sequence[int]) -> list[PendingChanges | None]:
    """The products' content edits awaiting review (None for a product with none)."""
    by_id = {
        r["id"]: PendingChanges.from_json(r["pending_changes"])
        for r in await _PENDING_OF.fetch(tx, ids=list(ids))
        if r["pending_changes"] is not None
    }
    return [by_id.get(i) for i in ids]


async def set_pending_changes(tx: Unit | LeanUnit, product_id: int, changes: PendingChanges | None) -> None:
    await _SET_PENDING.execute(
        tx, id=product_id, changes=json.dumps(changes.to_json()) if changes is not None else None
    )


async def skus_taken(tx: Unit | LeanUnit, skus: Sequence[str]) -> list[str]:
    """Those of these SKUs that a variant has already."""
    return [r["sku"] for r in await _SKUS_TAKEN.fetch(tx, skus=list(skus))]


class SkuTaken(Exception):
    """A variant's SKU is another variant's already (uq_variants_sku)."""


async def slug_taken(tx: Unit | LeanUnit, slug: str) -> bool:
    return bool(await _SLUG_TAKEN.fetchval(tx, slug=slug))


async def insert_product(tx: Unit | LeanUnit, **values: Any) -> ProductRow | None:
    """The new product, or None when its slug is taken."""
    row = await _INSERT_PRODUCT.fetchrow(tx, **values)
    return _product(row) if row is not None else None


async def insert_variant(
    tx: Unit | LeanUnit, product_id: int, spec: VariantSpec, *, actor_id: int | None = None
) -> None:
    try:
        await tx.sql.execute(
            _INSERT_VARIANT.sql,
            *_INSERT_VARIANT.args(
                {
                    "product_id": product_id,
                    "sku": spec.sku,
                    "size": spec.size.strip() if spec.size else None,
                    "color": spec.color.strip() if spec.color else None,
                    "price": spec.price,
                    "stock": spec.stock,
                    "actor_id": actor_id,
                }
            ),
        )
    except IntegrityError as error:
        if violated_constraint(error) == "uq_variants_sku":
            raise SkuTaken(spec.sku) from None
        raise


async def lock_product(tx: Unit | LeanUnit, product_id: int) -> ProductRow | None:
    row = await _LOCK_PRODUCT.fetchrow(tx, id=product_id)
    return _product(row) if row is not None else None


async def write_product(tx: Unit | LeanUnit, product: ProductRow) -> ProductRow:
    """Stores a product's editable fields and status as given."""
    row = await _UPDATE_PRODUCT.fetchrow(
        tx,
        id=product.id,
        title=product.title,
        description=product.description,
        category=product.category,
        price=product.price,
        images=list(product.images),
        status=product.status,
        rejection_reason=product.rejection_reason,
    )
    assert row is not None  # the caller holds the row's lock
    return _product(row)


async def delete_product(tx: Unit | LeanUnit, product_id: int) -> None:
    await tx.sql.execute(_DELETE_PRODUCT.sql, *_DELETE_PRODUCT.args({"id": product_id}))


async def lock_variant(tx: Unit | LeanUnit, variant_id: int) -> tuple[VariantRow, int, str] | None:
    """A live variant of a live product, locked, and its product's designer and status."""
    row = await _LOCK_VARIANT.fetchrow(tx, id=variant_id)
    return (_variant(row), row["designer_id"], row["status"]) if row is not None else None


async def set_stock(
    tx: Unit | LeanUnit, variant_id: int, stock: int, *, delta: int, actor_id: int | None, note: str | None
) -> VariantRow:
    """Sets the sellable stock; ``delta`` (new less old) is its SET movement."""
    row = await _SET_STOCK.fetchrow(tx, id=variant_id, stock=stock, delta=delta, actor_id=actor_id, note=note)
    assert row is not None  # the caller holds the row's lock
    return _variant(row)


# --- rows of ORM instances other capabilities hold (a cart line's product and variant) -----------


def product_row(product: models.Product) -> ProductRow:
    return ProductRow(*(getattr(product, name) for name in _PRODUCT_FIELDS))


def variant_row(variant: models.Variant) -> VariantRow:
    return VariantRow(
        variant.id,
        variant.product_id,
        variant.sku,
        variant.size,
        variant.color,
        variant.price,
        variant.sellable,
        variant.deleted_at,
        variant.held,
    )
