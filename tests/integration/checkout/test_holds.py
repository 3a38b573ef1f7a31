"""Stock holds: startCheckout takes the units out of sellable stock until expiresAt; cancel,
replace and expiry each give them back exactly once; a late payment takes them again only if
they are there. Real concurrent transactions throughout."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from kapda_gql.checkout import store
from tests.support.assertions import code
from tests.support.documents import START
from tests.support.flows import fill_cart, finish, make_customers, pay, start

VARIANT = """query($id: ID!) { product(id: $id) { variants { id stock held inStock } } }"""
CANCEL = """mutation($id: ID!) { cancelCheckout(checkoutId: $id) }"""


async def _variant(api: Any, product_id: int, token: str | None = None) -> dict[str, Any]:
    data = await api.ok(VARIANT, {"id": str(product_id)}, token=token)
    return dict(data["product"]["variants"][0])


async def _movements(db: Any, variant_id: int, reason: str) -> list[Any]:
    return list(
        await db.fetch(
            "SELECT delta, held_delta, stock_after FROM stock_movements WHERE variant_id = $1 AND reason = $2"
            " ORDER BY id",
            variant_id,
            reason,
        )
    )


async def _one(api: Any, make_user: Any, make_product: Any, db: Any, stock: int, quantity: int) -> Any:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id, price=49900, variants=[("HOLD-1", "M", None, stock, None)]
    )
    customer = await make_user()
    await fill_cart(db, customer.id, [(product["variant_ids"][0], quantity)])
    return designer, product, customer, product["variant_ids"][0]


async def test_hundred_customers_racing_for_twenty_units_get_twenty_sessions_before_anyone_pays(
    api: Any, make_user: Any, make_product: Any, db: Any, settings: Any
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id, price=99900, variants=[("DROP-1", "M", "Red", 20, None)]
    )
    vid = product["variant_ids"][0]
    customers = await make_customers(db, settings, 100)
    for c in customers:
        await fill_cart(db, c.id, [(vid, 1)])

    results = await asyncio.gather(*(api(START, {"key": None}, token=c.token) for c in customers))

    ok = [r for r in results if not r.get("errors")]
    refused = [r["errors"][0]["extensions"] for r in results if r.get("errors")]
    assert len(ok) == 20
    assert [e["code"] for e in refused] == ["INSUFFICIENT_STOCK"] * 80
    for e in refused:
        assert e["lines"] == [{"variantId": str(vid), "requested": 1, "available": 0}]
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions WHERE status = 'OPEN'") == 20
    assert await db.fetchval("SELECT sum(quantity) FROM stock_holds WHERE variant_id = $1", vid) == 20
    # Nobody paid: on hand is untouched, and what anyone can buy is none.
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 20
    anonymous = await _variant(api, product["id"])
    assert (anonymous["stock"], anonymous["inStock"], anonymous["held"]) == (0, False, None)
    staff = await _variant(api, product["id"], designer.token)
    assert (staff["stock"], staff["held"]) == (0, 20)
    assert len(await _movements(db, vid, "HOLD")) == 20


async def test_carts_holding_the_same_variants_in_opposite_orders_never_deadlock(
    api: Any, make_user: Any, make_product: Any, db: Any, settings: Any
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id,
        price=19900,
        variants=[
            ("OPP-A", "S", None, 15, None),
            ("OPP-B", "M", None, 40, None),
            ("OPP-C", "L", None, 7, None),
        ],
    )
    a, b, c = product["variant_ids"]
    customers = await make_customers(db, settings, 40)
    for i, customer in enumerate(customers):
        lines = [(a, 1), (b, 2), (c, 1)] if i % 3 == 0 else [(a, 1), (b, 2)]
        await fill_cart(db, customer.id, lines if i % 2 == 0 else lines[::-1])

    results = await asyncio.gather(*(api(START, {"key": None}, token=cu.token) for cu in customers))

    codes = [code(r) for r in results]
    assert set(codes) <= {None, "INSUFFICIENT_STOCK"}, codes
    assert codes.count(None) == 15  # A runs out first: every cart holds one
    held = {
        r[0]: int(r[1])
        for r in await db.fetch("SELECT variant_id, sum(quantity) FROM stock_holds GROUP BY 1")
    }
    assert held[a] == 15 and held[b] == 30 and held[c] <= 7
    # Every session holds its whole cart or nothing.
    per_session = await db.fetch("SELECT session_id, count(*) FROM stock_holds GROUP BY 1")
    carts = {str(s): n for s, n in per_session}
    for body in results:
        if code(body) is None:
            assert carts[body["data"]["startCheckout"]["id"]] == len(body["data"]["startCheckout"]["lines"])


async def test_cancel_gives_the_units_back_once_and_a_payment_for_it_is_never_taken(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    _, product, customer, vid = await _one(api, make_user, make_product, db, stock=5, quantity=3)
    session = await start(api, customer.token)
    assert (await _variant(api, product["id"]))["stock"] == 2

    answers = await asyncio.gather(
        *(api(CANCEL, {"id": session["id"]}, token=customer.token) for _ in range(4))
    )
    assert sorted(a["data"]["cancelCheckout"] for a in answers) == [False, False, False, True]
    assert (await _variant(api, product["id"]))["stock"] == 5
    assert [tuple(m) for m in await _movements(db, vid, "RELEASE")] == [(0, -3, 5)]

    # Another customer cannot cancel it (nor learn it exists).
    intruder = await make_user()
    assert code(await api(CANCEL, {"id": session["id"]}, token=intruder.token)) == "NOT_FOUND"

    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    body = await finish(api, customer.token, session, payment)
    assert code(body) == "CHECKOUT_EXPIRED"
    # Never captured for a cancelled session (an authorized payment lapses at Razorpay on its own).
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "authorized"
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 5


async def test_a_new_checkout_replaces_the_open_one_and_gives_its_units_back_once(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    _, product, customer, vid = await _one(api, make_user, make_product, db, stock=4, quantity=4)
    first = await start(api, customer.token)
    assert (await _variant(api, product["id"]))["stock"] == 0
    # The same units again: possible only because the first session's hold ends with it.
    second = await start(api, customer.token)
    assert second["id"] != first["id"]
    rows = await db.fetch("SELECT id::text, status FROM checkout_sessions WHERE user_id = $1", customer.id)
    assert dict(rows) == {first["id"]: "FAILED", second["id"]: "OPEN"}
    assert await db.fetchval("SELECT sum(quantity) FROM stock_holds WHERE variant_id = $1", vid) == 4
    assert [tuple(m) for m in await _movements(db, vid, "RELEASE")] == [(0, -4, 4)]
    assert len(await _movements(db, vid, "HOLD")) == 2


async def test_one_customers_concurrent_checkouts_leave_one_open_session_holding_once(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    """Each startCheckout ends the open session, inserts its own and locks the variants in one
    statement: racing each other, they must still leave one OPEN session and one hold."""
    _, product, customer, vid = await _one(api, make_user, make_product, db, stock=3, quantity=3)
    answers = await asyncio.gather(*(api(START, token=customer.token) for _ in range(6)))
    # Each one that loses the race to insert runs again and replaces the winner: all succeed.
    started = [
        a["data"]["startCheckout"]["id"] for a in answers if (a.get("data") or {}).get("startCheckout")
    ]
    assert len(started) == 6, answers
    rows = await db.fetch("SELECT id::text, status FROM checkout_sessions WHERE user_id = $1", customer.id)
    assert sorted(status for _, status in rows).count("OPEN") == 1
    (open_id,) = [sid for sid, status in rows if status == "OPEN"]
    assert open_id in started
    held = await db.fetch("SELECT session_id::text, quantity FROM stock_holds WHERE variant_id = $1", vid)
    assert [tuple(h) for h in held] == [(open_id, 3)]
    # Every hold but the open one's was given back once: HOLDs less RELEASEs is the one left.
    assert len(await _movements(db, vid, "HOLD")) - len(await _movements(db, vid, "RELEASE")) == 1
    assert (await _variant(api, product["id"]))["stock"] == 0


async def test_expiry_gives_the_units_back_at_once_and_the_sweep_records_it_once(
    api: Any, make_user: Any, make_product: Any, db: Any, runtime: Any
) -> None:
    _, product, customer, vid = await _one(api, make_user, make_product, db, stock=2, quantity=2)
    session = await start(api, customer.token)
    assert (await _variant(api, product["id"]))["stock"] == 0
    await db.execute("UPDATE stock_holds SET expires_at = now() - interval '1 second'")
    await db.execute("UPDATE checkout_sessions SET expires_at = now() - interval '1 second'")
    # No sweep has run: every reader sees the units back.
    assert (await _variant(api, product["id"]))["stock"] == 2
    other = await make_user()
    await fill_cart(db, other.id, [(vid, 2)])
    assert (await start(api, other.token))["id"] != session["id"]

    async def sweep() -> list[store.Released]:
        async with runtime.db.uow().lean() as tx:
            released = await store.sweep_lapsed_holds(tx, 0, 100)
            await tx.commit()
            return released

    first, again = await sweep(), await sweep()
    assert [(r.variant_id, r.quantity) for r in first] == [(vid, 2)]
    assert again == []
    assert [tuple(m) for m in await _movements(db, vid, "RELEASE")] == [(0, -2, 2)]


async def test_a_late_payment_takes_the_stock_again_when_it_is_there(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    _, _, customer, vid = await _one(api, make_user, make_product, db, stock=3, quantity=2)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    await db.execute("UPDATE stock_holds SET expires_at = now() - interval '1 second'")
    body = await finish(api, customer.token, session, payment)
    assert code(body) is None
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 1
    assert await db.fetchval("SELECT count(*) FROM stock_holds") == 0
    # Sold from the hold the ledger still kept (it lapsed, but was never released).
    assert [tuple(m) for m in await _movements(db, vid, "SALE")] == [(-2, -2, 1)]


async def test_a_late_payment_is_refunded_when_the_stock_went_to_someone_else(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    _, _, customer, vid = await _one(api, make_user, make_product, db, stock=2, quantity=2)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    await db.execute("UPDATE stock_holds SET expires_at = now() - interval '1 second'")
    rival = await make_user()
    await fill_cart(db, rival.id, [(vid, 1)])
    await start(api, rival.token)  # holds one of the two lapsed units

    body = await finish(api, customer.token, session, payment)
    assert code(body) == "INSUFFICIENT_STOCK"
    assert body["errors"][0]["extensions"]["lines"] == [
        {"variantId": str(vid), "requested": 2, "available": 1}
    ]
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["amount_refunded"] > 0
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 2
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    # The failed session's lapsed hold is released; the rival's stays.
    assert await db.fetchval("SELECT sum(quantity) FROM stock_holds") == 1


async def test_held_units_become_sold_and_set_stock_keeps_them_held(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    designer, product, customer, vid = await _one(api, make_user, make_product, db, stock=5, quantity=2)
    session = await start(api, customer.token)
    set_stock = """mutation($v: ID!) { setStock(input: {variantId: $v, stock: 10}) { stock held } }"""
    data = await api.ok(set_stock, {"v": str(vid)}, token=designer.token)
    assert data["setStock"] == {"stock": 10, "held": 2}
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    assert code(await finish(api, customer.token, session, payment)) is None
    staff = await _variant(api, product["id"], designer.token)
    assert (staff["stock"], staff["held"]) == (10, 0)
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 10
    # stock + held + sold = what was put on the shelf (5, then 10 sellable on top of the 2 held).
    sold = await db.fetchval("SELECT sum(quantity) FROM order_items WHERE variant_id = $1", vid)
    assert staff["stock"] + staff["held"] + sold == 12


async def _held_elsewhere(db: Any, user_id: int, variant_id: int, quantity: int, stock_after: int) -> None:
    """Another customer's open session holding ``quantity``, written as startCheckout writes it."""
    session_id = await db.fetchval(
        "INSERT INTO checkout_sessions (id, user_id, amount, currency, lines, price_adjustments,"
        " shipping_address, status, expires_at) VALUES (gen_random_uuid(), $1, 49900, 'INR', '[]', '[]',"
        " '{}', 'OPEN', now() + interval '15 minutes') RETURNING id",
        user_id,
    )
    await db.execute(
        "INSERT INTO stock_holds (session_id, variant_id, quantity, expires_at)"
        " VALUES ($1, $2, $3, now() + interval '15 minutes')",
        session_id,
        variant_id,
        quantity,
    )
    await db.execute(
        "INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, checkout_session_id)"
        " VALUES ($1, 'HOLD', 0, $2, $3, $4)",
        variant_id,
        quantity,
        stock_after,
        session_id,
    )


async def _waiting_for_a_lock(db: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no startCheckout ever waited for the variant's lock")


async def test_a_checkout_that_waited_for_the_lock_counts_the_holds_its_holder_committed(
    api: Any, make_user: Any, make_product: Any, db: Any, database_url: str
) -> None:
    """startCheckout locks, counts and holds in one statement: a statement that waited for a row
    lock reads other tables from its snapshot taken before the wait, so the holds committed by
    the lock's holder are counted with a fresh one (migration 0009). Counted stale, this customer
    would get 2 of the 3 units the other customer's 2-unit hold leaves 1 of."""
    _, _, customer, vid = await _one(api, make_user, make_product, db, stock=3, quantity=2)
    other = await make_user()
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT id FROM variants WHERE id = $1 FOR NO KEY UPDATE", vid)
            await _held_elsewhere(holder, other.id, vid, 2, 3)
            answer = asyncio.create_task(api(START, token=customer.token))
            await _waiting_for_a_lock(db)
        result = await answer
    finally:
        await holder.close()
    assert code(result) == "INSUFFICIENT_STOCK", result
    assert result["errors"][0]["extensions"]["lines"] == [
        {"variantId": str(vid), "requested": 2, "available": 1}
    ]
    assert await db.fetchval("SELECT sum(quantity) FROM stock_holds WHERE variant_id = $1", vid) == 2
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions WHERE user_id = $1", customer.id) == 0


async def test_a_shortage_while_replacing_leaves_the_open_session_and_its_holds_as_they_were(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    _, _, customer, vid = await _one(api, make_user, make_product, db, stock=3, quantity=2)
    first = await start(api, customer.token)
    await _held_elsewhere(db, (await make_user()).id, vid, 1, 3)
    # 3 wanted: its own 2 held units are its to replace, the third is the other customer's.
    await db.execute(
        "UPDATE cart_lines SET quantity = 3 WHERE cart_id = (SELECT id FROM carts WHERE user_id = $1)",
        customer.id,
    )
    result = await api(START, token=customer.token)
    assert code(result) == "INSUFFICIENT_STOCK", result
    assert result["errors"][0]["extensions"]["lines"] == [
        {"variantId": str(vid), "requested": 3, "available": 2}
    ]
    rows = await db.fetch("SELECT id::text, status FROM checkout_sessions WHERE user_id = $1", customer.id)
    assert dict(rows) == {first["id"]: "OPEN"}
    held = await db.fetch(
        "SELECT session_id::text, quantity FROM stock_holds WHERE variant_id = $1 ORDER BY 2", vid
    )
    assert [h[1] for h in held] == [1, 2] and held[1][0] == first["id"]
    assert await _movements(db, vid, "RELEASE") == []


async def test_with_holds_off_a_checkout_holds_nothing_and_still_gives_back_what_an_earlier_one_held(
    api: Any, serve: Any, settings: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    """KAPDA_STOCK_HOLDS=off: startCheckout takes nothing (stock is taken at checkout), and a
    session opened while holds were on still gives its units back, once, when it is replaced."""
    _, product, customer, vid = await _one(api, make_user, make_product, db, stock=2, quantity=2)
    first = await start(api, customer.token)  # holds on: both units held
    other = await make_user()
    await fill_cart(db, other.id, [(vid, 2)])
    served = serve(settings.with_overrides(stock_holds=False))
    async with served.client() as client:

        async def start_off(token: str) -> dict[str, Any]:
            r = await client.post(
                "/graphql", json={"query": START}, headers={"Authorization": f"Bearer {token}"}
            )
            body = r.json()
            assert "errors" not in body, body
            return dict(body["data"]["startCheckout"])

        second = await start_off(customer.token)
        # Nothing held now, so another customer may start on the same two units.
        third = await start_off(other.token)
    sessions = dict(
        await db.fetch(
            "SELECT id::text, status FROM checkout_sessions WHERE user_id = ANY($1::bigint[])",
            [customer.id, other.id],
        )
    )
    assert sessions == {first["id"]: "FAILED", second["id"]: "OPEN", third["id"]: "OPEN"}
    assert await db.fetchval("SELECT count(*) FROM stock_holds WHERE variant_id = $1", vid) == 0
    assert [tuple(m) for m in await _movements(db, vid, "RELEASE")] == [(0, -2, 2)]
    assert len(await _movements(db, vid, "HOLD")) == 1
    assert (await _variant(api, product["id"]))["stock"] == 2
