"""Each reconcile check, corrupted in exactly what it checks, reports it; a clean shop agrees."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from kapda_gql.payments.gateway import PaymentGateway
from kapda_gql.reconcile import checks, report
from kapda_gql.runtime import Runtime
from tests.support.documents import TRANSITION

pytestmark = pytest.mark.unledgered


async def _run(database_url: str, gateway: PaymentGateway | None = None) -> checks.Result:
    return await checks.run(database_url, gateway)


async def _shop_with_orders(api: Any, shop: dict[str, Any], place_order: Any) -> dict[str, Any]:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 2)])
    canceled = await place_order(shop["bob"], [(shop["product"]["variant_ids"][1], 1)])
    await api.ok(
        TRANSITION, {"id": canceled["id"], "to": "CANCELED", "note": None}, token=shop["admin"].token
    )
    return order


async def test_a_clean_shop_agrees_with_razorpay_too(
    api: Any, shop: dict[str, Any], place_order: Any, database_url: str, runtime: Runtime
) -> None:
    await _shop_with_orders(api, shop, place_order)
    result = await _run(database_url, runtime.gateway)
    assert result.disagreements == 0, report.render(result)
    assert "everything agrees" in report.render(result)


@pytest.mark.parametrize(
    ("corruption", "check"),
    [
        ("UPDATE variants SET stock = stock + 1 WHERE id = (SELECT min(id) FROM variants)", "stock.on_hand"),
        (
            "INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after)"
            " SELECT id, 'HOLD', 0, 2, stock FROM variants ORDER BY id LIMIT 1",
            "stock.held",
        ),
        (
            "INSERT INTO stock_movements (variant_id, reason, delta, stock_after)"
            " SELECT min(id), 'SET', 0, 99 FROM variants",
            "stock.after",
        ),
        ("UPDATE payments SET order_id = NULL", "money.captured"),
        (
            "UPDATE commissions SET amount = amount + 1 WHERE id = (SELECT min(id) FROM commissions)",
            "commissions.rate",
        ),
        # designerStats against the lines: a commission booked to the wrong designer, one earned
        # before delivery, and a line whose charged price no longer adds up to its total.
        (
            "UPDATE commissions SET designer_id = (SELECT max(id) FROM designers)"
            " WHERE id = (SELECT min(id) FROM commissions)",
            "designers.stats",
        ),
        ("UPDATE commissions SET status = 'EARNED' WHERE status = 'PENDING'", "designers.stats"),
        (
            "UPDATE order_items SET unit_price = unit_price + 100 WHERE id = (SELECT min(id) FROM order_items)",
            "designers.stats",
        ),
    ],
)
async def test_each_corruption_is_reported(
    api: Any,
    shop: dict[str, Any],
    place_order: Any,
    db: asyncpg.Connection,
    database_url: str,
    corruption: str,
    check: str,
) -> None:
    await _shop_with_orders(api, shop, place_order)
    await db.execute("SET session_replication_role = replica")  # past foreign keys and triggers
    await db.execute(corruption)
    result = await _run(database_url)
    assert result.rows[check], report.render(result)
    assert {name for name, rows in result.rows.items() if rows} == {check}, report.render(result)


async def test_refunds_beyond_the_capture_are_refused_and_reported(
    api: Any, shop: dict[str, Any], place_order: Any, db: asyncpg.Connection, database_url: str
) -> None:
    await _shop_with_orders(api, shop, place_order)
    payment = await db.fetchrow("SELECT id, amount FROM payments WHERE status = 'CAPTURED' LIMIT 1")
    insert = (
        "INSERT INTO refunds (payment_id, amount, currency, reason, idempotency_key, status)"
        " VALUES ($1, $2, 'INR', 'test', 'k-over', 'PROCESSED')"
    )
    with pytest.raises(asyncpg.CheckViolationError, match="exceed its capture"):
        await db.execute(insert, payment["id"], payment["amount"] + 1)
    await db.execute("SET session_replication_role = replica")
    await db.execute(insert, payment["id"], payment["amount"] + 1)
    result = await _run(database_url)
    assert result.rows["money.refunds"], report.render(result)


async def test_a_refund_razorpay_does_not_hold_is_reported(
    api: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Runtime, database_url: str
) -> None:
    await _shop_with_orders(api, shop, place_order)
    # The canceled order's refund, deleted at Razorpay's end.
    with sandbox.state.lock:
        sandbox.state.refunds.clear()
    result = await _run(database_url, runtime.gateway)
    assert [row[-1] for row in result.rows["money.razorpay"]] == ["missing"], report.render(result)


async def test_the_command_prints_the_table_and_exits_1(
    api: Any, shop: dict[str, Any], place_order: Any, db: asyncpg.Connection, database_url: str
) -> None:
    import asyncio
    import os
    import sys

    await _shop_with_orders(api, shop, place_order)
    env = {**os.environ, "KAPDA_DATABASE_URL": database_url}
    clean = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kapda_gql",
        "reconcile",
        "--no-razorpay",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await clean.communicate()
    assert clean.returncode == 0 and b"everything agrees" in out, out
    await db.execute("UPDATE variants SET stock = stock + 3 WHERE id = (SELECT min(id) FROM variants)")
    broken = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kapda_gql",
        "reconcile",
        "--no-razorpay",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await broken.communicate()
    assert broken.returncode == 1 and b"1 WRONG" in out and b"stock.on_hand: 1 | KUR-S" in out, out
