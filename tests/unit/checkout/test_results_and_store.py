"""Completion's result values, the named-placeholder builder, and constraint names found in errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from kapda_gql.checkout import store
from kapda_gql.checkout.quote import QuoteLine
from kapda_gql.checkout.results import ClosedElsewhere, OutOfStock, Placed, answer, order_or_raise
from kapda_gql.core import audit, idempotency
from kapda_gql.db.models import Order
from kapda_gql.db.sql import Query, violated_constraint
from kapda_gql.domain.errors import CheckoutExpired, InsufficientStock
from kapda_gql.domain.policy import Actor
from kapda_gql.payments.gateway import GatewayPayment


def test_placed_and_closed_elsewhere_with_an_order_give_the_order() -> None:
    order = Order(id=1, number="KC-1")
    assert order_or_raise(Placed(order, [], [])) is order
    assert order_or_raise(ClosedElsewhere(order)) is order


def test_closed_elsewhere_with_an_error_raises_it() -> None:
    with pytest.raises(CheckoutExpired):
        order_or_raise(ClosedElsewhere(CheckoutExpired()))


def test_out_of_stock_raises_insufficient_stock_with_its_lines() -> None:
    short = [{"variantId": "4", "requested": 3, "available": 1}]
    with pytest.raises(InsufficientStock) as raised:
        order_or_raise(OutOfStock(short))
    assert raised.value.extensions["lines"] == short


def test_the_answer_of_a_checkout_key_is_the_order_number() -> None:
    assert answer("KC-261127-AB") == {"orderNumber": "KC-261127-AB"}


def test_named_markers_become_numbered_placeholders_once_per_name() -> None:
    query = Query("SELECT :a, :b::jsonb, CAST(:a AS int), x::text FROM t WHERE y = :c_1")
    assert query.sql == "SELECT $1, $2::jsonb, CAST($1 AS int), x::text FROM t WHERE y = $3"
    assert query.names == ("a", "b", "c_1")
    assert query.args({"c_1": 3, "a": 1, "b": "{}", "unused": 0}) == [1, "{}", 3]
    with pytest.raises(KeyError):
        query.args({"a": 1, "b": 2})


def test_the_order_statement_gets_every_value_it_names_from_its_parts() -> None:
    """The order's values, the audit entry's and the idempotency answer's: nothing missing, by name."""
    lines = [QuoteLine(1, 2, 3, "Kurta", "K-1", "M", None, 2, 1000, 900)]
    closed = store.ClosedSession(5, 1800, "INR", lines, [], {"name": "A"})
    payment = GatewayPayment("pay_1", "order_1", 1800, "INR", "captured")
    actor = Actor.system_actor("webhook")
    new = store.NewOrder("KC-1", uuid.uuid4(), closed, payment, datetime.now(UTC), actor, "Order placed")
    claim = idempotency.Claim(5, "k", "checkout", "h")
    args = store.order_args(new, claim, answer("KC-1"))
    assert len(args) == len(store.PLACE_ORDER.names) == len(set(store.PLACE_ORDER.names))
    named = dict(zip(store.PLACE_ORDER.names, args, strict=True))
    assert named["unit_prices"] == [900] and named["line_totals"] == [1800]
    assert named["answer_key"] == "k" and named["audit_action"] == "order.created"
    assert named["audit_user_agent"] == "kapda-gql/webhook"
    assert audit.entry_values(actor, "x", "Order", None)["audit_changes"] is None
    # Without a claim the answer part matches no key at all.
    assert idempotency.answer_values(None, result={})["answer_key"] is None


class _Unique(Exception):
    constraint_name = store.PAYMENT_REUSED


def test_a_reused_payment_is_recognised_by_its_constraint_name() -> None:
    error = IntegrityError("INSERT ...", (), _Unique())
    assert violated_constraint(error) == "uq_payments_razorpay_payment_id"
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = error
    assert violated_constraint(wrapped) == store.PAYMENT_REUSED
    assert violated_constraint(IntegrityError("x", (), Exception("razorpay_payment_id"))) is None
