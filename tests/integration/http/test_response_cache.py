"""The shared response cache: catalog answers anonymous callers and customers share, never stale.

Two app instances (two runtimes, two caches, one database) stand for two workers or replicas.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kapda_gql.config import Settings
from kapda_gql.graphql.transport.response_cache import ResponseCache
from tests.support.apps import Served
from tests.support.flows import finish, pay, start
from tests.support.statements import counting

PAGE = "query($first: Int!) { products(first: $first) { totalCount edges { node { id title status price { amount } variants { id stock } } } } }"
SET_STOCK = "mutation($input: SetStockInput!) { setStock(input: $input) { id stock } }"
UPDATE = "mutation($input: UpdateProductInput!) { updateProduct(input: $input) { id title } }"
REVIEW = "mutation($input: ReviewProductInput!) { reviewProduct(input: $input) { id status } }"
DELETE = "mutation($id: ID!) { deleteProduct(productId: $id) }"
ADD = "mutation($v: ID!, $q: Int!) { addToCart(input: {variantId: $v, quantity: $q}) { itemCount } }"


def _cached(settings: Settings, **over: Any) -> Settings:
    return settings.with_overrides(**{"catalog_cache_seconds": 60.0, **over})


def cache_of(served: Served) -> ResponseCache:
    cache: ResponseCache = served.app.state.response_cache
    return cache


async def page(served: Served, token: str | None = None, first: int = 20) -> tuple[dict[str, Any], list[str]]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with served.client() as client:
        with counting(served.runtime) as statements:
            response = await client.post(
                "/graphql", json={"query": PAGE, "variables": {"first": first}}, headers=headers
            )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["products"], statements


def catalog_statements(statements: list[str]) -> list[str]:
    return [s for s in statements if "products" in s]


async def mutate(served: Served, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    async with served.client() as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


async def test_a_cached_answer_is_served_without_running_the_query(
    serve: Any, settings: Settings, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user("CUSTOMER")
    await make_product(designer.designer_id, title="Chanderi kurta")
    served = serve(_cached(settings))

    first, ran = await page(served)
    assert first["totalCount"] == 1
    assert catalog_statements(ran), ran  # a miss runs the catalog statement

    again, statements = await page(served)
    assert again == first
    # A hit sends one statement, the catalog version's read, and no catalog query.
    assert statements == ["SELECT version FROM catalog_version WHERE id = 1"]

    # A customer shares the anonymous answer: authentication, the version, nothing else.
    as_customer, statements = await page(served, customer.token)
    assert as_customer == first
    assert catalog_statements(statements) == [], statements
    assert cache_of(served).hits == 2

    # GET shares the same entry, and is still public for a shared cache when anonymous.
    async with served.client() as client:
        with counting(served.runtime) as statements:
            response = await client.get("/graphql", params={"query": PAGE, "variables": '{"first": 20}'})
    assert response.json()["data"]["products"] == first
    assert catalog_statements(statements) == []
    assert response.headers["cache-control"] == "public, max-age=10"
    async with served.client() as client:
        revalidated = await client.get(
            "/graphql",
            params={"query": PAGE, "variables": '{"first": 20}'},
            headers={"if-none-match": response.headers["etag"]},
        )
    assert revalidated.status_code == 304


async def test_a_change_committed_by_one_instance_is_never_served_by_the_other(
    serve: Any, settings: Settings, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    admin = await make_user("ADMIN")
    kept = await make_product(designer.designer_id, title="Ikat dupatta", price=99900)
    doomed = await make_product(designer.designer_id, title="Bandhani saree")
    writer, reader = serve(_cached(settings)), serve(_cached(settings))

    async def warmed() -> dict[str, Any]:
        """The reader's answer, after making sure it is a cached one."""
        await page(reader)
        answer, statements = await page(reader)
        assert catalog_statements(statements) == [], statements
        return answer

    def node(answer: dict[str, Any], product_id: int) -> dict[str, Any] | None:
        found = [e["node"] for e in answer["edges"] if e["node"]["id"] == str(product_id)]
        return found[0] if found else None

    before = node(await warmed(), kept["id"])
    assert before is not None and before["variants"][0]["stock"] == 10
    variant = kept["variant_ids"][0]
    await mutate(writer, SET_STOCK, {"input": {"variantId": str(variant), "stock": 3}}, admin.token)
    after, _ = await page(reader)
    assert node(after, kept["id"])["variants"][0]["stock"] == 3  # type: ignore[index]

    await warmed()
    await mutate(
        writer,
        UPDATE,
        {"input": {"productId": str(kept["id"]), "title": "Ikat stole", "price": 89900}},
        designer.token,
    )
    after, _ = await page(reader)
    changed = node(after, kept["id"])
    # The product is approved: its price changes at once, its new title waits for review (12.4).
    assert changed is not None and changed["title"] == "Ikat dupatta" and changed["price"]["amount"] == 89900

    await warmed()
    await mutate(
        writer, REVIEW, {"input": {"productId": str(kept["id"]), "decision": "APPROVE"}}, admin.token
    )
    after, _ = await page(reader)
    changed = node(after, kept["id"])
    assert changed is not None and changed["title"] == "Ikat stole"

    await warmed()
    await mutate(
        writer,
        REVIEW,
        {"input": {"productId": str(doomed["id"]), "decision": "REJECT", "reason": "blurred photos"}},
        admin.token,
    )
    after, _ = await page(reader)
    assert node(after, doomed["id"]) is None and after["totalCount"] == 1

    await warmed()
    await mutate(writer, DELETE, {"id": str(kept["id"])}, designer.token)
    after, _ = await page(reader)
    assert after["totalCount"] == 0 and after["edges"] == []


async def test_stock_moved_by_a_checkout_shows_within_the_cache_seconds(
    serve: Any, settings: Settings, make_user: Any, make_product: Any, sandbox: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user("CUSTOMER")
    product = await make_product(designer.designer_id, title="Kalamkari tote")
    variant = product["variant_ids"][0]
    seconds = 1.5
    shop, reader = (
        serve(_cached(settings, catalog_cache_seconds=seconds)),
        serve(_cached(settings, catalog_cache_seconds=seconds)),
    )

    async with shop.client() as client:
        response = await client.post(
            "/graphql",
            json={"query": ADD, "variables": {"v": str(variant), "q": 2}},
            headers={"authorization": f"Bearer {customer.token}"},
        )
    assert response.json()["data"]["addToCart"]["itemCount"] == 2
    warm, _ = await page(reader)
    warmed_at = time.monotonic()
    assert warm["edges"][0]["node"]["variants"][0]["stock"] == 10

    from tests.support.apps import Api

    async with shop.client() as client:
        api = Api(client)
        session = await start(api, customer.token)
        payment = await pay(sandbox.base_url, session["razorpayOrderId"])
        done = await finish(api, customer.token, session, payment)
    assert "errors" not in done, done

    # A sale does not move the catalog version: within the cache seconds the figure may be old...
    lagging, statements = await page(reader)
    if time.monotonic() - warmed_at < seconds - 0.2:
        assert catalog_statements(statements) == [] and lagging == warm
    # ...and never older than that.
    await asyncio.sleep(max(0.0, warmed_at + seconds - time.monotonic()) + 0.05)
    fresh, statements = await page(reader)
    assert catalog_statements(statements), statements
    assert fresh["edges"][0]["node"]["variants"][0]["stock"] == 8


async def test_memory_stays_within_the_bound_least_recently_used_first(
    serve: Any, settings: Settings, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    for n in range(5):
        await make_product(designer.designer_id, title=f"Block print {n}")
    bound = 12_000
    served = serve(_cached(settings, catalog_cache_bytes=bound))
    cache = cache_of(served)
    for first in range(1, 21):
        await page(served, first=first)
        assert cache.total <= bound
    assert 1 <= len(cache) < 20
    _, statements = await page(served, first=20)  # the newest is still kept
    assert catalog_statements(statements) == []
    _, statements = await page(served, first=1)  # the oldest went first
    assert catalog_statements(statements)


async def test_designers_and_admins_always_read_live(
    serve: Any, settings: Settings, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    admin = await make_user("ADMIN")
    await make_product(designer.designer_id, title="Approved kurta")
    await make_product(designer.designer_id, title="Draft kurta", status="DRAFT")
    served = serve(_cached(settings))

    shared, _ = await page(served)
    await page(served)
    assert shared["totalCount"] == 1
    for who in (designer, admin):
        own, statements = await page(served, who.token)
        assert catalog_statements(statements), (who.role, statements)
        assert own["totalCount"] == 2  # their view includes the draft: never the shared answer
    # And what they read was not kept for the others.
    after, statements = await page(served)
    assert after == shared and catalog_statements(statements) == []
    assert cache_of(served).hits == 2


async def test_requests_waiting_together_share_one_version_read_that_began_after_they_came(
    serve: Any, settings: Settings, db: Any
) -> None:
    served = serve(_cached(settings))
    clock = cache_of(served).clock
    before = await clock.now()
    with counting(served.runtime) as statements:
        versions = await asyncio.gather(*(clock.now() for _ in range(30)))
    assert set(versions) == {before}
    assert 1 <= len(statements) <= 2  # the first read, and one for everyone who came during it
    await db.execute("SELECT kapda_bump_catalog()")
    assert await clock.now() == before + 1


async def test_a_repeated_anonymous_request_is_answered_by_its_bytes_exactly_as_the_view_would(
    serve: Any, settings: Settings, make_user: Any, make_product: Any, logs: Any
) -> None:
    """The fast path (graphql/transport/fast.py): the same bytes again skip parsing, with the same
    answer and headers; whatever the view would refuse or treat apart still goes to the view."""
    designer = await make_user("DESIGNER")
    await make_product(designer.designer_id, title="Kutch shawl")
    served = serve(_cached(settings))
    cache = cache_of(served)
    payload = {"query": PAGE, "operationName": None, "variables": {"first": 20}}
    params = {"query": PAGE, "variables": '{"first": 20}'}
    skipped = ("x-request-id", "date")

    async with served.client() as client:
        posts = [await client.post("/graphql", json=payload) for _ in range(3)]
        gets = [await client.get("/graphql", params=params) for _ in range(3)]
        with counting(served.runtime) as statements:
            fast = await client.post("/graphql", json=payload, headers={"x-request-id": "fast-1"})
    assert statements == ["SELECT version FROM catalog_version WHERE id = 1"]
    assert cache.hits == 6  # the first POST ran; every later request was a hit, the GETs included
    for answers in (posts, gets):
        first = answers[0]
        for later in answers[1:]:
            assert later.status_code == 200
            assert later.content == first.content
            assert {k: v for k, v in later.headers.items() if k not in skipped} == {
                k: v for k, v in first.headers.items() if k not in skipped
            }
    assert gets[2].headers["cache-control"] == "public, max-age=10" and gets[2].headers["etag"]
    assert posts[2].headers["cache-control"] == "private, no-store"
    assert fast.headers["x-request-id"] == "fast-1"
    assert fast.headers["x-content-type-options"] == "nosniff"
    assert fast.headers["vary"] == "Accept, Authorization, Origin"
    logged = [r for r in logs.records if r.name == "kapda_gql.access" and r.request_id == "fast-1"]
    assert [(r.operation, r.status) for r in logged] == [("query:products", 200)]

    async with served.client() as client:
        # The same bytes with another content type, an Accept nothing can meet, a revalidation.
        wrong_type = await client.post(
            "/graphql", content=posts[0].request.content, headers={"content-type": "text/plain"}
        )
        unacceptable = await client.post("/graphql", json=payload, headers={"accept": "text/csv"})
        revalidated = await client.get(
            "/graphql", params=params, headers={"if-none-match": gets[0].headers["etag"]}
        )
        graphql_response = await client.post(
            "/graphql", json=payload, headers={"accept": "application/graphql-response+json"}
        )
    assert wrong_type.status_code == 415
    assert unacceptable.status_code == 406
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["etag"] == gets[0].headers["etag"]
    assert graphql_response.status_code == 200
    assert graphql_response.headers["content-type"] == "application/graphql-response+json"
    assert graphql_response.content == posts[0].content


async def test_misses_of_one_answer_at_once_compute_it_once_and_the_rest_wait_for_it(
    serve: Any, settings: Settings, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    await make_product(designer.designer_id, title="Pochampally ikat")
    served = serve(_cached(settings))
    cache = cache_of(served)
    payload = {"query": PAGE, "variables": {"first": 20}}
    async with served.client() as client:
        with counting(served.runtime) as statements:
            answers = await asyncio.wait_for(
                asyncio.gather(*(client.post("/graphql", json=payload) for _ in range(12))), 30
            )
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len(catalog_statements(statements)) == 2, statements  # the page and its count, once
    assert (cache.misses, cache.hits) == (1, 11)

    # An answer that is not kept (not all public): the waiters run it themselves, and all answer.
    private = {"query": "{ products(first: 1) { totalCount } me { id } }"}
    async with served.client() as client:
        others = await asyncio.wait_for(
            asyncio.gather(*(client.post("/graphql", json=private) for _ in range(6))), 30
        )
    assert {o.status_code for o in others} == {200}
    assert len({o.content for o in others}) == 1
    assert len(cache) == 1  # still only the page
