"""products and product: filters, full-text search, sorts, keyset pages, page cap, visibility per role."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.assertions import bad_fields
from tests.support.documents import PRODUCT_FIELDS
from tests.support.flows import set_on_hand

PRODUCTS = """
query($filter: ProductFilter, $sort: ProductSort, $first: Int, $after: String) {
  products(filter: $filter, sort: $sort, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id title } }
  }
}"""
PRODUCT = "query($id: ID, $slug: String) { product(id: $id, slug: $slug) { %s } }" % PRODUCT_FIELDS


@dataclass
class Catalog:
    ids: dict[str, int]
    slugs: dict[str, str]
    d1: Any
    d2: Any


@pytest.fixture
async def catalog(make_user: Any, make_product: Any, db: Any) -> Catalog:
    d1 = await make_user("DESIGNER", name="Studio One")
    d2 = await make_user("DESIGNER", name="Studio Two")
    specs: list[tuple[str, Any, dict[str, Any]]] = [
        (
            "Indigo Kurta",
            d1,
            {
                "category": "Kurta",
                "price": 129900,
                "description": "Handwoven cotton, hand-dyed",
                "variants": [("IK-S", "S", "Blue", 5, None), ("IK-M", "M", "Blue", 0, None)],
            },
        ),
        (
            "Silk Saree",
            d2,
            {
                "category": "Saree",
                "price": 499900,
                "description": "Banarasi silk",
                "variants": [("SS-F", "Free", "Red", 2, None)],
            },
        ),
        (
            "Linen Shirt",
            d1,
            {
                "category": "Shirt",
                "price": 89900,
                "description": "Pairs well with a kurta",
                "variants": [("LS-L", "L", "White", 0, None), ("LS-XL", "XL", "Black", 9, None)],
            },
        ),
        (
            "Block Print Dupatta",
            d2,
            {
                "category": "Dupatta",
                "price": 129900,
                "description": "Sanganeri block print",
                "variants": [("BD-F", "Free", "Green", 3, 99900)],
            },
        ),
        ("Draft Kurta", d1, {"status": "DRAFT", "variants": [("DK-M", "M", "Blue", 4, None)]}),
        ("Pending Kurta", d2, {"status": "PENDING_REVIEW", "variants": [("PK-M", "M", "Blue", 4, None)]}),
        ("Rejected Saree", d2, {"status": "REJECTED", "variants": [("RS-F", "Free", "Red", 4, None)]}),
        ("Deleted Kurta", d1, {"variants": [("XK-M", "M", "Blue", 4, None)]}),
        ("Deleted Draft", d2, {"status": "DRAFT", "variants": [("XD-M", "M", "Blue", 4, None)]}),
    ]
    ids = {}
    for title, designer, kwargs in specs:
        ids[title] = (await make_product(designer.designer_id, title=title, **kwargs))["id"]
    # A deleted variant counts for no filter and is not listed.
    await db.execute("UPDATE variants SET deleted_at = now() WHERE sku = 'LS-XL'")
    await db.execute(
        "UPDATE products SET deleted_at = now() WHERE id = ANY($1::bigint[])",
        [ids["Deleted Kurta"], ids["Deleted Draft"]],
    )
    slugs = dict(await db.fetch("SELECT title, slug FROM products"))
    return Catalog(ids, slugs, d1, d2)


async def _titles(api: Any, token: str | None = None, **variables: Any) -> set[str]:
    data = (await api.ok(PRODUCTS, {"first": 100, **variables}, token=token))["products"]
    titles = [e["node"]["title"] for e in data["edges"]]
    assert len(titles) == len(set(titles))
    assert data["totalCount"] == len(titles)
    assert data["pageInfo"]["hasNextPage"] is False
    return set(titles)


APPROVED = {"Indigo Kurta", "Silk Saree", "Linen Shirt", "Block Print Dupatta"}


# Each case is (filter, titles expected); one catalog serves them all, so the suite stays fast.
FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, APPROVED),
    # Full-text search with English stemming: the plural finds the singular, in title or description.
    ({"search": "kurtas"}, {"Indigo Kurta", "Linen Shirt"}),
    ({"search": "KURTA"}, {"Indigo Kurta", "Linen Shirt"}),
    ({"search": "handwoven"}, {"Indigo Kurta"}),
    ({"search": "sarees"}, {"Silk Saree"}),
    ({"search": "kurta -linen"}, {"Indigo Kurta"}),
    ({"search": "dyed"}, {"Indigo Kurta"}),
    ({"search": "nothing-here-xyzzy"}, set()),
    ({"search": "   "}, APPROVED),
    ({"category": "kurta"}, {"Indigo Kurta"}),
    ({"category": "SAREE"}, {"Silk Saree"}),
    ({"category": "Lehenga"}, set()),
    ({"minPrice": 129900}, {"Indigo Kurta", "Silk Saree", "Block Print Dupatta"}),
    ({"maxPrice": 129900}, {"Indigo Kurta", "Linen Shirt", "Block Print Dupatta"}),
    ({"minPrice": 129900, "maxPrice": 129900}, {"Indigo Kurta", "Block Print Dupatta"}),
    ({"minPrice": 500000}, set()),
    ({"size": "m"}, {"Indigo Kurta"}),
    ({"size": "Free"}, {"Silk Saree", "Block Print Dupatta"}),
    ({"size": "XL"}, set()),
    ({"color": "blue"}, {"Indigo Kurta"}),
    ({"color": "White"}, {"Linen Shirt"}),
    ({"color": "black"}, set()),
    ({"inStock": True}, {"Indigo Kurta", "Silk Saree", "Block Print Dupatta"}),
    ({"inStock": False}, {"Linen Shirt"}),
    ({"category": "saree", "inStock": True, "size": "free", "color": "red"}, {"Silk Saree"}),
    ({"search": "kurta", "inStock": True}, {"Indigo Kurta"}),
]


async def test_filters(api: Any, catalog: Catalog) -> None:
    wrong = []
    for flt, expected in FILTER_CASES:
        found = await _titles(api, filter=flt)
        if found != expected:
            wrong.append((flt, found, expected))
    assert wrong == []


async def test_designer_filter(api: Any, catalog: Catalog) -> None:
    assert await _titles(api, filter={"designerId": str(catalog.d2.designer_id)}) == {
        "Silk Saree",
        "Block Print Dupatta",
    }
    assert await _titles(api, filter={"designerId": str(catalog.d1.designer_id), "maxPrice": 100000}) == {
        "Linen Shirt"
    }
    assert await _titles(api, filter={"designerId": "424242"}) == set()


BAD_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"minPrice": -1}, {"filter.minPrice"}),
    ({"maxPrice": -5}, {"filter.maxPrice"}),
    ({"minPrice": 500, "maxPrice": 100}, {"filter.minPrice"}),
    ({"designerId": "abc"}, {"filter.designerId"}),
    ({"search": "x" * 201}, {"filter.search"}),
    ({"search": "kurta\x00"}, {"filter.search"}),
    ({"category": "\x00"}, {"filter.category"}),
    ({"size": "M\x00", "color": "\x00red"}, {"filter.size", "filter.color"}),
]


async def test_bad_filters(api: Any, catalog: Catalog) -> None:
    for flt, fields in BAD_FILTERS:
        error = await api.error(PRODUCTS, {"filter": flt})
        assert bad_fields(error) == fields, flt


async def test_nested_fields(api: Any, catalog: Catalog) -> None:
    data = await api.ok(PRODUCT, {"id": str(catalog.ids["Block Print Dupatta"])})
    node = data["product"]
    assert node["designer"] == {"id": str(catalog.d2.designer_id), "name": "Studio Two"}
    assert node["price"] == {"amount": 129900, "currency": "INR", "formatted": "₹1,299.00"}
    assert node["status"] == "APPROVED"
    assert node["inStock"] is True
    [variant] = node["variants"]
    assert (variant["sku"], variant["size"], variant["color"], variant["stock"]) == (
        "BD-F",
        "Free",
        "Green",
        3,
    )
    assert variant["price"] == {"amount": 99900}  # the variant's override, not the product's price
    assert variant["inStock"] is True

    shirt = (await api.ok(PRODUCT, {"id": str(catalog.ids["Linen Shirt"])}))["product"]
    assert [v["sku"] for v in shirt["variants"]] == ["LS-L"]  # the deleted XL is gone
    assert shirt["inStock"] is False
    assert shirt["variants"][0]["price"] == {"amount": 89900}
    assert shirt["variants"][0]["inStock"] is False


# --- visibility -----------------------------------------------------------------------------------


async def test_visibility_per_role(api: Any, catalog: Catalog, make_user: Any) -> None:
    customer = await make_user()
    admin = await make_user("ADMIN")
    assert await _titles(api) == APPROVED
    assert await _titles(api, customer.token) == APPROVED
    # A designer sees its own products in any status, but not another designer's unapproved ones.
    assert await _titles(api, catalog.d1.token) == APPROVED | {"Draft Kurta"}
    assert await _titles(api, catalog.d2.token) == APPROVED | {"Pending Kurta", "Rejected Saree"}
    # Admins see every status; deleted products are hidden from everyone.
    assert await _titles(api, admin.token) == APPROVED | {"Draft Kurta", "Pending Kurta", "Rejected Saree"}
    # Filtering by status narrows what the caller may see; it never widens it.
    assert await _titles(api, catalog.d2.token, filter={"status": "DRAFT"}) == set()
    assert await _titles(api, catalog.d1.token, filter={"status": "DRAFT"}) == {"Draft Kurta"}
    assert await _titles(api, customer.token, filter={"status": "PENDING_REVIEW"}) == set()
    assert await _titles(api, admin.token, filter={"status": "REJECTED"}) == {"Rejected Saree"}
    # "Rejected Saree" is in the Kurta category, which search covers too.
    assert await _titles(api, admin.token, filter={"search": "kurta"}) == {
        "Indigo Kurta",
        "Linen Shirt",
        "Draft Kurta",
        "Pending Kurta",
        "Rejected Saree",
    }


async def test_product_by_id_or_slug_follows_visibility(api: Any, catalog: Catalog, make_user: Any) -> None:
    customer = await make_user()
    admin = await make_user("ADMIN")
    tokens = {"anonymous": None, "customer": customer.token, "d1": catalog.d1.token, "d2": catalog.d2.token}
    tokens["admin"] = admin.token
    visible_to = {
        "Indigo Kurta": set(tokens),
        "Draft Kurta": {"d1", "admin"},
        "Pending Kurta": {"d2", "admin"},
        "Rejected Saree": {"d2", "admin"},
        "Deleted Kurta": set(),
        "Deleted Draft": set(),
    }
    for title, who in visible_to.items():
        for name, token in tokens.items():
            by_id = (await api.ok(PRODUCT, {"id": str(catalog.ids[title])}, token=token))["product"]
            by_slug = (await api.ok(PRODUCT, {"slug": catalog.slugs[title]}, token=token))["product"]
            if name in who:
                assert by_id is not None and by_id["title"] == title, (title, name)
                assert by_slug == by_id
            else:
                assert by_id is None and by_slug is None, (title, name)


async def test_product_needs_exactly_one_of_id_and_slug(api: Any, catalog: Catalog) -> None:
    error = await api.error(
        PRODUCT, {"id": str(catalog.ids["Indigo Kurta"]), "slug": catalog.slugs["Indigo Kurta"]}
    )
    assert bad_fields(error) == {"id", "slug"}
    error = await api.error(PRODUCT, {})
    assert bad_fields(error) == {"id", "slug"}
    error = await api.error(PRODUCT, {"id": "not-a-number"})
    assert bad_fields(error) == {"id"}
    assert (await api.ok(PRODUCT, {"id": "987654321"}))["product"] is None
    assert (await api.ok(PRODUCT, {"slug": "no-such-slug"}))["product"] is None
    error = await api.error(PRODUCT, {"slug": "indigo\x00"})
    assert bad_fields(error) == {"slug"}


# --- sorting and pages ------------------------------------------------------------------------------


@pytest.fixture
async def many(make_user: Any, make_product: Any, db: Any) -> dict[str, Any]:
    """17 approved products with repeated prices and, for 8 of them, the very same created_at."""
    d = await make_user("DESIGNER")
    prices = [300, 100, 200, 200, 500, 100, 300, 200, 400]
    for i, price in enumerate(prices):
        description = "kurta " * (i % 3 + 1) if i % 2 else "plain cotton"
        await make_product(d.designer_id, title=f"Kurta {i}", price=price, description=description)
    # One transaction: now() is the same for every row, so the sort key ties and only the id breaks it.
    async with db.transaction():
        for i in range(8):
            pid = await db.fetchval(
                "INSERT INTO products (designer_id, slug, title, description, category, price, status)"
                " VALUES ($1, $2, $3, $4, 'Shirt', $5, 'APPROVED') RETURNING id",
                d.designer_id,
                f"tied-{i}",
                f"Shirt {i}" if i % 2 else f"Shirt kurta {i}",
                "with a kurta collar" if i % 3 == 0 else "plain",
                [100, 200, 300][i % 3],
            )
            vid = await db.fetchval(
                "INSERT INTO variants (product_id, sku, size, color, stock) VALUES ($1, $2, 'M', 'Blue', 0) "
                "RETURNING id",
                pid,
                f"TIED-{i}",
            )
            await set_on_hand(db, vid, 1)  # through a SET movement, so the ledger agrees
    rows = await db.fetch("SELECT id, price, created_at FROM products")
    return {"rows": rows, "designer": d}


async def _walk(api: Any, page_size: int, **variables: Any) -> tuple[list[int], int]:
    ids: list[int] = []
    after = None
    pages = 0
    total = None
    while True:
        data = (await api.ok(PRODUCTS, {"first": page_size, "after": after, **variables}))["products"]
        pages += 1
        total = data["totalCount"] if total is None else total
        assert data["totalCount"] == total  # the count does not depend on the page
        ids += [int(e["node"]["id"]) for e in data["edges"]]
        if data["edges"]:
            assert data["pageInfo"]["endCursor"] == data["edges"][-1]["cursor"]
        if not data["pageInfo"]["hasNextPage"]:
            break
        assert len(data["edges"]) == page_size
        after = data["pageInfo"]["endCursor"]
        assert pages < 50
    assert len(ids) == total
    return ids, pages


@pytest.mark.parametrize("sort", ["NEWEST", "PRICE_ASC", "PRICE_DESC"])
async def test_walking_every_page_sees_each_product_once_in_order(
    api: Any, many: dict[str, Any], sort: str
) -> None:
    rows = many["rows"]
    expected = {
        "NEWEST": sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True),
        "PRICE_ASC": sorted(rows, key=lambda r: (r["price"], r["id"])),
        "PRICE_DESC": sorted(rows, key=lambda r: (r["price"], r["id"]), reverse=True),
    }[sort]
    for page_size in (1, 4, 17):
        ids, pages = await _walk(api, page_size, sort=sort)
        assert ids == [r["id"] for r in expected], page_size
        assert pages == -(-len(rows) // page_size)  # hasNextPage is exact: no empty trailing page
        assert len(set(ids)) == len(ids) == 17


async def test_relevance_ranks_and_pages_without_gaps(api: Any, many: dict[str, Any], db: Any) -> None:
    ranks = dict(
        await db.fetch(
            "SELECT id, ts_rank_cd(search_vector, websearch_to_tsquery('english', 'kurtas'))::float8"
            " FROM products WHERE search_vector @@ websearch_to_tsquery('english', 'kurtas')"
        )
    )
    assert len(ranks) > 8
    assert len(set(ranks.values())) < len(ranks)  # there are ties for the id to break
    expected = sorted(ranks, key=lambda i: (ranks[i], i), reverse=True)
    whole = [
        int(e["node"]["id"])
        for e in (
            await api.ok(PRODUCTS, {"first": 100, "sort": "RELEVANCE", "filter": {"search": "kurtas"}})
        )["products"]["edges"]
    ]
    assert whole == expected
    for size in (1, 3, 5):
        ids, _ = await _walk(api, size, sort="RELEVANCE", filter={"search": "kurtas"})
        assert ids == expected


async def test_relevance_without_search_is_newest(api: Any, many: dict[str, Any]) -> None:
    newest, _ = await _walk(api, 5, sort="NEWEST")
    relevance, _ = await _walk(api, 5, sort="RELEVANCE")
    assert relevance == newest


async def test_filter_and_sort_page_together(api: Any, many: dict[str, Any]) -> None:
    rows = [r for r in many["rows"] if 200 <= r["price"] <= 300]
    ids, _ = await _walk(api, 2, sort="PRICE_DESC", filter={"minPrice": 200, "maxPrice": 300})
    assert ids == [r["id"] for r in sorted(rows, key=lambda r: (r["price"], r["id"]), reverse=True)]


async def test_default_page_is_20_and_first_is_capped_at_100(api: Any, make_user: Any, db: Any) -> None:
    d = await make_user("DESIGNER")
    await db.execute(
        "INSERT INTO products (designer_id, slug, title, description, category, price, status)"
        " SELECT $1, 'bulk-' || g, 'Bulk ' || g, '', 'Kurta', g * 100, 'APPROVED' FROM generate_series(1, 101) g",
        d.designer_id,
    )
    data = (await api.ok("{ products { totalCount pageInfo { hasNextPage } edges { node { id } } } }"))[
        "products"
    ]
    assert (len(data["edges"]), data["totalCount"], data["pageInfo"]["hasNextPage"]) == (20, 101, True)
    data = (await api.ok(PRODUCTS, {"first": 100}))["products"]
    assert (len(data["edges"]), data["pageInfo"]["hasNextPage"]) == (100, True)

    body = await api(PRODUCTS, {"first": 101})
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == 100
    assert error["extensions"]["requestId"]
    error = await api.error(PRODUCTS, {"first": -1})
    assert bad_fields(error) == {"first"}
    data = (await api.ok(PRODUCTS, {"first": 0}))["products"]
    assert data["edges"] == [] and data["totalCount"] == 101


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS: list[tuple[str, str]] = [
    ("NEWEST", "not a cursor!"),
    ("NEWEST", "%%%"),
    ("NEWEST", _cursor({"a": 1})),
    ("NEWEST", _cursor(["2024-01-01T00:00:00+00:00"])),
    ("NEWEST", _cursor(["yesterday", 1])),
    ("NEWEST", _cursor([100, 1])),
    ("PRICE_ASC", _cursor(["2024-01-01T00:00:00+00:00", 1])),
    ("PRICE_ASC", _cursor([100, "1"])),
    ("PRICE_ASC", _cursor([10**30, 1])),
    ("PRICE_DESC", _cursor([100, -(10**30)])),
    ("PRICE_DESC", _cursor([True, 1])),
    ("NEWEST", _cursor(["2024-01-01T00:00:00", 1])),
]


async def test_bad_cursors_are_bad_user_input(api: Any, many: dict[str, Any]) -> None:
    for sort, after in BAD_CURSORS:
        error = await api.error(PRODUCTS, {"sort": sort, "after": after})
        assert bad_fields(error) == {"after"}, (sort, after)
        assert error["extensions"]["requestId"]


async def test_relevance_cursor_is_checked_too(api: Any, many: dict[str, Any]) -> None:
    variables = {"sort": "RELEVANCE", "filter": {"search": "kurta"}}
    error = await api.error(PRODUCTS, {**variables, "after": _cursor(["high", 1])})
    assert bad_fields(error) == {"after"}
    error = await api.error(PRODUCTS, {**variables, "after": _cursor([0.5, 10**40])})
    assert bad_fields(error) == {"after"}
