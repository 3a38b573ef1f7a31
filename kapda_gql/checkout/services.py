"""Checkout: a server-priced quote frozen in a session, a verified Razorpay payment, then exactly one order.

Never holds a database transaction open across a call to Razorpay. The order
transaction takes its locks in one fixed order shared with the webhook path —
checkout session first, then payment, then variants by ascending id — and takes
the variant locks last, right before COMMIT, so the hot rows are held for as
short a time as possible.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import insert, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from kapda_gql.cart.services import current_price, is_available
from kapda_gql.core import audit, idempotency
from kapda_gql.db.models import (
    AuditEntry,
    Cart,
    CartLine,
    CheckoutSession,
    Order,
    OrderItem,
    OrderStatusChange,
    Payment,
    Product,
    Variant,
)
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain import pricing, validation
from kapda_gql.domain.enums import CheckoutStatus, OrderStatus, PaymentStatus
from kapda_gql.domain.errors import (
    BadUserInput,
    CartEmpty,
    CheckoutExpired,
    DomainError,
    InsufficientStock,
    NotFound,
    PaymentAmountMismatch,
    PaymentGatewayRejected,
    PaymentGatewayUnavailable,
    PaymentNotCaptured,
    PaymentVerificationFailed,
    ProductUnavailable,
)
from kapda_gql.domain.policy import Actor, require_user
from kapda_gql.domain.text import has_control
from kapda_gql.payments import refunds
from kapda_gql.payments.gateway import GatewayPayment, PaymentGateway

log = logging.getLogger("kapda_gql.checkout")
PAYABLE = frozenset({"authorized", "captured"})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line1: str
    city: str
    state: str
    postal_code: str
    phone: str
    country: str = "IN"
    line2: str | None = None

    def validated(self) -> Address:
        return Address(**validation.validate_address(asdict(self)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "state": self.state,
            "postalCode": self.postal_code,
            "country": self.country,
            "phone": self.phone,
        }


@dataclass(frozen=True, slots=True)
class QuoteLine:
    variant_id: int
    product_id: int
    designer_id: int
    title: str
    sku: str
    size: str | None
    color: str | None
    quantity: int
    cart_price: int
    current_price: int

    @property
    def unit_price(self) -> int:
        return pricing.charged_price(self.cart_price, self.current_price)

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "unit_price": self.unit_price, "line_total": self.line_total}

    @staticmethod
    def from_json(data: dict[str, Any]) -> QuoteLine:
        fields = QuoteLine.__dataclass_fields__
        return QuoteLine(**{k: v for k, v in data.items() if k in fields})


def adjustments(lines: Sequence[QuoteLine]) -> list[dict[str, int]]:
    return [
        {
            "variant_id": line.variant_id,
            "cart_price": line.cart_price,
            "current_price": line.current_price,
            "charged_price": line.unit_price,
        }
        for line in lines
        if line.cart_price != line.current_price
    ]


def _shortage(lines: Sequence[QuoteLine], stock: dict[int, int]) -> list[dict[str, Any]]:
    return [
        {
            "variantId": str(line.variant_id),
            "requested": line.quantity,
            "available": stock.get(line.variant_id, 0),
        }
        for line in lines
        if line.quantity > stock.get(line.variant_id, 0)
    ]


def _insufficient(short: list[dict[str, Any]]) -> InsufficientStock:
    first = short[0]
    return InsufficientStock(
        "Some items are no longer in stock in the quantity asked for",
        variantId=first["variantId"],
        requested=first["requested"],
        available=first["available"],
        lines=short,
    )


# --- startCheckout --------------------------------------------------------------------------


async def _quote(uow: UnitOfWork, user_id: int) -> list[QuoteLine]:
    rows = (
        await uow.session.execute(
            select(CartLine, Variant, Product)
            .join(Cart, Cart.id == CartLine.cart_id)
            .join(Variant, Variant.id == CartLine.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Cart.user_id == user_id)
            .order_by(Variant.id)
        )
    ).all()
    if not rows:
        raise CartEmpty()
    lines = []
    for line, variant, product in rows:
        if not is_available(product, variant):
            raise ProductUnavailable(
                f"{product.title} ({variant.sku}) is no longer available", variantId=str(variant.id)
            )
        lines.append(
            QuoteLine(
                variant_id=variant.id,
                product_id=product.id,
                designer_id=product.designer_id,
                title=product.title,
                sku=variant.sku,
                size=variant.size,
                color=variant.color,
                quantity=line.quantity,
                cart_price=line.unit_price,
                current_price=current_price(product, variant),
            )
        )
    short = _shortage(lines, {v.id: v.stock for _, v, _ in rows})
    if short:
        raise _insufficient(short)
    return lines


async def start_checkout(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    *,
    address: Address,
    idempotency_key: str | None,
    ttl_seconds: int,
) -> CheckoutSession:
    user_id = require_user(actor)
    address = address.validated()
    key = idempotency.validate_key(idempotency_key)
    claim = (
        idempotency.Claim(user_id, key, "startCheckout", idempotency.request_hash(address.to_json()))
        if key
        else None
    )
    if claim is not None:
        stored = await idempotency.claim(uow, claim)
        if stored is not None:
            return await _own_session(uow, user_id, uuid.UUID(stored["checkoutId"]))
    async with _answering(uow, claim):
        return await _start(uow, gateway, actor, user_id, address, claim, ttl_seconds)


@contextlib.asynccontextmanager
async def _answering(uow: UnitOfWork, claim: idempotency.Claim | None) -> AsyncIterator[None]:
    """Store a domain error as the key's answer; give the key back after a failure worth retrying."""
    try:
        yield
    except PaymentGatewayUnavailable:
        await idempotency.release(uow, claim)
        raise
    except DomainError as error:
        await idempotency.finish_alone(uow, claim, error)
        raise
    except Exception:
        # Unexpected: nothing was answered, so a retry must be able to do the work.
        await idempotency.release(uow, claim)
        raise


async def _start(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    user_id: int,
    address: Address,
    claim: idempotency.Claim | None,
    ttl_seconds: int,
) -> CheckoutSession:
    async def quote(uow: UnitOfWork) -> CheckoutSession:
        lines = await _quote(uow, user_id)
        changes = adjustments(lines)
        session = CheckoutSession(
            id=uuid.uuid4(),
            user_id=user_id,
            amount=sum(line.line_total for line in lines),
            currency="INR",
            lines=[line.to_json() for line in lines],
            price_adjustments=changes,
            shipping_address=address.to_json(),
            status=CheckoutStatus.OPEN.value,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
        )
        if session.amount <= 0:
            raise BadUserInput("cart", "the cart total must be above zero")
        uow.session.add(session)
        await uow.session.flush()
        big = [c for c in changes if pricing.is_price_alert(c["cart_price"], c["current_price"])]
        if big:
            log.warning(
                "price changed over 10%% since added to cart",
                extra={"checkout": str(session.id), "lines": big},
            )
            await audit.record(
                uow, actor, "checkout.price_mismatch", "CheckoutSession", session.id, {"lines": big}
            )
        await uow.commit()
        return session

    session = await uow.run(quote)
    try:
        order = await gateway.create_order(
            amount=session.amount,
            currency=session.currency,
            receipt=str(session.id)[:40],
            notes={"checkout_id": str(session.id), "user_id": str(user_id)},
        )
    except DomainError:
        async with uow:
            await uow.session.execute(
                update(CheckoutSession)
                .where(CheckoutSession.id == session.id)
                .values(status=CheckoutStatus.FAILED.value, failure_code="PAYMENT_GATEWAY_ERROR")
            )
            await uow.commit()
        raise

    async def attach(uow: UnitOfWork) -> None:
        await uow.session.execute(
            update(CheckoutSession).where(CheckoutSession.id == session.id).values(razorpay_order_id=order.id)
        )
        await idempotency.finish(uow, claim, result={"checkoutId": str(session.id)})
        await uow.commit()

    await uow.run(attach)
    session.razorpay_order_id = order.id
    return session


async def _own_session(uow: UnitOfWork, user_id: int, session_id: uuid.UUID) -> CheckoutSession:
    async with uow.read():
        session = await uow.session.get(CheckoutSession, session_id)
    if session is None or session.user_id != user_id:
        raise NotFound("Checkout not found")
    return session


# --- checkout ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentProof:
    checkout_id: uuid.UUID
    razorpay_order_id: str
    razorpay_payment_id: str
    razorpay_signature: str

    def validated(self) -> PaymentProof:
        errors = [
            (name, "is required and at most 128 characters")
            for name, value in (
                ("razorpayOrderId", self.razorpay_order_id),
                ("razorpayPaymentId", self.razorpay_payment_id),
                ("razorpaySignature", self.razorpay_signature),
            )
            if not 0 < len(value.strip()) <= 128 or has_control(value)
        ]
        if errors:
            raise BadUserInput(errors)
        return self


async def checkout(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    proof: PaymentProof,
    *,
    idempotency_key: str | None,
    on_placed: PlacedHook | None = None,
) -> Order:
    user_id = require_user(actor)
    proof = proof.validated()
    key = idempotency.validate_key(idempotency_key)
    claim = (
        idempotency.Claim(
            user_id,
            key,
            "checkout",
            idempotency.request_hash(
                {
                    "checkoutId": str(proof.checkout_id),
                    "orderId": proof.razorpay_order_id,
                    "paymentId": proof.razorpay_payment_id,
                    "signature": proof.razorpay_signature,
                }
            ),
        )
        if key
        else None
    )
    if claim is not None:
        stored = await idempotency.claim(uow, claim)
        if stored is not None:
            return await _answered_order(uow, stored)
    async with _answering(uow, claim):
        session, existing, paid_with = await _session_and_order(uow, user_id, proof.checkout_id)
        if proof.razorpay_order_id != session.razorpay_order_id or not _verified(gateway, session, proof):
            raise PaymentVerificationFailed()
        if existing is not None:
            # Paid and ordered already (an earlier request or the webhook): the same order again.
            if paid_with != proof.razorpay_payment_id:
                await _refund_if_captured(
                    uow, gateway, session, proof.razorpay_payment_id, "duplicate_payment"
                )
            await idempotency.finish_alone(uow, claim, result=_answer(existing.number))
            return existing
        if session.status != CheckoutStatus.OPEN.value:
            # Failed already: a payment for it is never captured here (an authorized one lapses at
            # Razorpay on its own), and one captured elsewhere is given back.
            await _refund_if_captured(uow, gateway, session, proof.razorpay_payment_id, "checkout_failed")
            async with uow:
                raise await _failure_of(uow, session.id, session.failure_code)
        payment = await confirm_payment(
            uow, gateway, session, proof.razorpay_payment_id, signature_verified=True
        )
        return await complete_paid_checkout(
            uow, gateway, actor, session.id, payment, claim=claim, on_placed=on_placed
        )
    raise AssertionError("unreachable")  # _answering re-raises whatever it catches


def _attributes(model: Any) -> list[tuple[str, str]]:
    """(attribute, column) for each mapped column of a model."""
    return [(a.key, a.columns[0].name) for a in sa_inspect(model).column_attrs]


def _select_list(attributes: list[tuple[str, str]], alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for _, column in attributes)


_SESSION_ATTRIBUTES = _attributes(CheckoutSession)
_ORDER_ATTRIBUTES = _attributes(Order)
_SESSION_COLUMNS = [a for a, _ in _SESSION_ATTRIBUTES]
_ORDER_COLUMNS = [a for a, _ in _ORDER_ATTRIBUTES]
_SESSION_AND_ORDER = f"""
    SELECT {_select_list(_SESSION_ATTRIBUTES, "s")}, {_select_list(_ORDER_ATTRIBUTES, "o")},
           p.razorpay_payment_id
    FROM checkout_sessions s
    LEFT JOIN orders o ON o.checkout_session_id = s.id
    LEFT JOIN payments p ON p.order_id = o.id
    WHERE s.id = $1
"""  # noqa: S608 (the column names come from our models, never from input)


def _model(model: type[T], columns: list[str], values: Sequence[Any]) -> T:
    """A detached ORM instance from plain values (a lean unit's row), for callers that expect one."""
    return model(**dict(zip(columns, values, strict=True)))


async def _session_and_order(
    uow: UnitOfWork, user_id: int, session_id: uuid.UUID
) -> tuple[CheckoutSession, Order | None, str | None]:
    """The caller's checkout session, the order it produced and the payment that paid for it, if any:
    one statement."""
    async with uow.lean().read():
        row = await uow.sql.fetchrow(_SESSION_AND_ORDER, session_id)
    if row is None:
        raise NotFound("Checkout not found")
    values = list(row)
    split = len(_SESSION_COLUMNS)
    session = _model(CheckoutSession, _SESSION_COLUMNS, values[:split])
    if session.user_id != user_id:
        raise NotFound("Checkout not found")
    order_values = values[split : split + len(_ORDER_COLUMNS)]
    order = _model(Order, _ORDER_COLUMNS, order_values) if order_values[0] is not None else None  # o.id
    return session, order, values[-1]


async def _refund_if_captured(
    uow: UnitOfWork, gateway: PaymentGateway, session: CheckoutSession, payment_id: str, reason: str
) -> None:
    """A payment of this session that cannot become an order: give back what was captured."""
    payment = await gateway.fetch_payment(payment_id)
    if payment.order_id == session.razorpay_order_id and payment.status == "captured":
        await _refund_stray_payment(uow, gateway, session, payment, reason)


async def _failure_of(uow: UnitOfWork, session_id: uuid.UUID, failure_code: str | None) -> DomainError:
    """The error a failed session ended with, lines included, for every later attempt on it.

    Reads inside the caller's open transaction.
    """
    if failure_code != InsufficientStock.code:
        return CheckoutExpired()
    changes = await uow.session.scalar(
        select(AuditEntry.changes)
        .where(
            AuditEntry.action == "checkout.failed",
            AuditEntry.target_type == "CheckoutSession",
            AuditEntry.target_id == str(session_id),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    short = list((changes or {}).get("lines") or [])
    return _insufficient(short) if short else InsufficientStock(lines=[])


def _verified(gateway: PaymentGateway, session: CheckoutSession, proof: PaymentProof) -> bool:
    # Against the order id WE stored, never the one the client sent.
    return session.razorpay_order_id is not None and gateway.verify_payment_signature(
        order_id=session.razorpay_order_id,
        payment_id=proof.razorpay_payment_id,
        signature=proof.razorpay_signature,
    )


def _paid_too_late(session: CheckoutSession, payment: GatewayPayment) -> bool:
    """Judged by when the customer paid: a webhook retried for hours after an outage of ours
    must not refund a payment that was made while the quote still held."""
    paid_at = datetime.fromtimestamp(payment.created_at, UTC) if payment.created_at else datetime.now(UTC)
    return paid_at > session.expires_at


async def confirm_payment(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    session: CheckoutSession,
    payment_id: str,
    *,
    signature_verified: bool = False,
) -> GatewayPayment:
    """Fetch the payment from Razorpay and make sure it pays exactly this session; capture if authorized.

    With a verified Checkout signature (which Razorpay only issues for a payment of OUR order) and a
    quote still valid, capture first: one call instead of two on the common path. Razorpay refuses
    a capture of the wrong amount or of a payment not authorized, and then the fetch below decides.
    """
    if signature_verified and session.expires_at > datetime.now(UTC):
        try:
            captured = await gateway.capture_payment(
                payment_id, amount=session.amount, currency=session.currency
            )
        except PaymentGatewayRejected:
            captured = None
        if (
            captured is not None
            and captured.status == "captured"
            and captured.order_id == session.razorpay_order_id
            and captured.amount == session.amount
            and captured.currency == session.currency
        ):
            return captured
    payment = await gateway.fetch_payment(payment_id)
    if payment.order_id != session.razorpay_order_id:
        raise PaymentVerificationFailed("The payment does not belong to this checkout")
    if payment.status not in PAYABLE:
        raise PaymentNotCaptured(paymentStatus=payment.status.upper())
    if payment.amount != session.amount or payment.currency != session.currency:
        if payment.status == "captured":
            await _refund_stray_payment(uow, gateway, session, payment, "amount_mismatch")
        raise PaymentAmountMismatch(
            expected={"amount": session.amount, "currency": session.currency},
            paid={"amount": payment.amount, "currency": payment.currency},
        )
    if _paid_too_late(session, payment) and await _order_for_session(uow, session.id) is None:
        if payment.status == "captured":
            await _refund_stray_payment(uow, gateway, session, payment, "checkout_expired")
        raise CheckoutExpired()
    if payment.status == "authorized":
        try:
            payment = await gateway.capture_payment(
                payment.id, amount=payment.amount, currency=payment.currency
            )
        except PaymentGatewayRejected:
            # Captured meanwhile by a concurrent request or the dashboard: believe Razorpay, not the error.
            payment = await gateway.fetch_payment(payment.id)
        if payment.status != "captured":
            raise PaymentNotCaptured(paymentStatus=payment.status.upper())
    return payment


async def _order_for_session(uow: UnitOfWork, session_id: uuid.UUID) -> Order | None:
    async with uow.read():
        return await uow.session.scalar(select(Order).where(Order.checkout_session_id == session_id))


def _answer(order_number: str) -> dict[str, Any]:
    """What an idempotency key of checkout keeps: the order's number, known before the order's id,
    so the answer can be written by the statement that places the order."""
    return {"orderNumber": order_number}


async def _answered_order(uow: UnitOfWork, stored: dict[str, Any]) -> Order:
    # "orderId": answers stored before the number was (keys live 24 hours).
    where = (
        Order.number == stored["orderNumber"]
        if "orderNumber" in stored
        else Order.id == int(stored["orderId"])
    )
    async with uow.read():
        order = await uow.session.scalar(select(Order).where(where))
    if order is None:
        raise NotFound("Order not found")
    return order


def _order_number() -> str:
    # 64 random bits: 32 collided about once in 20,000 orders (the bench hit one), and a collision
    # after the payment was captured would fail the customer's checkout.
    return f"KC-{datetime.now(UTC):%y%m%d}-{secrets.token_hex(8).upper()}"


class _OutOfStock(Exception):
    def __init__(self, short: list[dict[str, Any]]) -> None:
        self.short = short


_CLOSE_SESSION = (
    "UPDATE checkout_sessions SET status = 'COMPLETED' WHERE id = $1 AND status = 'OPEN' "
    "RETURNING user_id, amount, currency, lines, price_adjustments, shipping_address"
)

# Everything an order is made of, in one statement (one round trip while the session row is
# locked); PostgreSQL checks the foreign keys between these CTEs at the end of the statement. The
# first status-history row, the audit entry and the idempotency key's answer ride along.
# Commission = line total x designer rate in basis points, rounded half up: the rule of Money.share.
_PLACE_ORDER = f"""
    WITH o AS (
        INSERT INTO orders (number, user_id, checkout_session_id, status, payment_status, subtotal, total,
                            currency, shipping_address, price_adjustments, created_at, updated_at)
        VALUES ($1, $2, $3, 'PENDING', 'CAPTURED', $4, $4, $5, CAST($6 AS jsonb), CAST($7 AS jsonb), $8, $8)
        RETURNING {_select_list(_ORDER_ATTRIBUTES, "orders")}
    ), history AS (
        INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note, at)
        SELECT o.id, NULL, 'PENDING', $9, $10, $8 FROM o
    ), items AS (
        INSERT INTO order_items (order_id, variant_id, product_id, designer_id, product_title, sku, size, color,
                                 unit_price, quantity, line_total)
        SELECT o.id, u.* FROM o, unnest(
            CAST($15 AS bigint[]), CAST($16 AS bigint[]), CAST($17 AS bigint[]), CAST($18 AS text[]),
            CAST($19 AS text[]), CAST($20 AS text[]), CAST($21 AS text[]), CAST($22 AS bigint[]),
            CAST($23 AS int[]), CAST($24 AS bigint[])) AS u
        RETURNING id, order_id, designer_id, line_total
    ), commissions AS (
        INSERT INTO commissions (order_item_id, order_id, designer_id, rate_bps, amount, status)
        SELECT items.id, items.order_id, items.designer_id, d.commission_rate_bps,
               (items.line_total * d.commission_rate_bps + 5000) / 10000, 'PENDING'
        FROM items JOIN designers d ON d.id = items.designer_id
    ), payment AS (
        INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, order_id, amount,
                              currency, status)
        SELECT $11, $12, $3, o.id, $13, $14, 'CAPTURED' FROM o
    ), cart AS (
        DELETE FROM cart_lines
        WHERE cart_id = (SELECT id FROM carts WHERE user_id = $2) AND variant_id = ANY(CAST($15 AS bigint[]))
    ), audit AS (
        INSERT INTO audit_entries ({audit.COLUMNS})
        SELECT $25, $26, 'Order', o.id::text, CAST($27 AS jsonb), $28, CAST($29 AS inet), $30 FROM o
    ), answer AS (
        {idempotency.finish_sql(31)}
    )
    SELECT * FROM o
"""  # noqa: S608 (the column names come from our models, never from input)

# NO KEY UPDATE, not UPDATE: the order_items foreign keys inserted just before take KEY SHARE on
# these rows, and FOR UPDATE would conflict with other checkouts' KEY SHARE and deadlock.
_LOCK_VARIANTS = "SELECT id, stock FROM variants WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"
_DECREMENT = (
    "UPDATE variants v SET stock = v.stock - d.q "
    "FROM unnest($1::bigint[], $2::int[]) AS d(id, q) WHERE v.id = d.id"
)


PLACED_NOTE = "Order placed"
PlacedHook = Callable[[Order, list[OrderItem], list[OrderStatusChange]], None]


def _written_items(order_id: int, lines: Sequence[QuoteLine]) -> list[OrderItem]:
    """The order's lines as the transaction inserted them (in the same, id, order)."""
    return [
        OrderItem(
            order_id=order_id,
            variant_id=x.variant_id,
            product_id=x.product_id,
            designer_id=x.designer_id,
            product_title=x.title,
            sku=x.sku,
            size=x.size,
            color=x.color,
            unit_price=x.unit_price,
            quantity=x.quantity,
            line_total=x.line_total,
        )
        for x in lines
    ]


def _first_change(order_id: int, actor: Actor, at: datetime) -> OrderStatusChange:
    return OrderStatusChange(
        order_id=order_id,
        from_status=None,
        to_status=OrderStatus.PENDING.value,
        actor_id=actor.user_id,
        note=PLACED_NOTE,
        at=at,
    )


# One line: lock, check and take in one statement (one row cannot deadlock with anything).
_TAKE_ONE = "UPDATE variants SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING id"
_STOCK_OF = "SELECT stock FROM variants WHERE id = $1"


async def _take_stock(uow: UnitOfWork, lines: Sequence[QuoteLine]) -> None:
    sql = uow.sql
    if len(lines) == 1:
        line = lines[0]
        if await sql.fetchrow(_TAKE_ONE, line.variant_id, line.quantity) is None:
            left = await sql.fetchval(_STOCK_OF, line.variant_id)
            raise _OutOfStock(_shortage(lines, {line.variant_id: int(left or 0)}))
        return
    # Several lines: lock them in ascending id order first, so two carts never deadlock.
    ids = [x.variant_id for x in lines]
    stock = {row[0]: row[1] for row in await sql.fetch(_LOCK_VARIANTS, ids)}
    short = _shortage(lines, stock)
    if short:
        raise _OutOfStock(short)
    await sql.execute(_DECREMENT, ids, [x.quantity for x in lines])


async def complete_paid_checkout(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    session_id: uuid.UUID,
    payment: GatewayPayment,
    *,
    claim: idempotency.Claim | None = None,
    on_placed: PlacedHook | None = None,
) -> Order:
    """Turn a captured payment into exactly one order (shared by the mutation and the webhooks).

    ``on_placed`` hears the lines and the first history row exactly as this call wrote them, so a
    caller that shows the new order needs no second round of reads.
    """

    async def work(uow: UnitOfWork) -> tuple[Order, list[OrderItem], list[OrderStatusChange]] | None:
        # A lean unit: every statement here is plain SQL, and this is the checkout's hot path.
        sql = uow.sql
        closed = await sql.fetchrow(_CLOSE_SESSION, session_id)
        if closed is None:
            return None
        user_id, amount, currency, raw_lines, price_adjustments, address = closed
        lines = [QuoteLine.from_json(x) for x in raw_lines]
        now = datetime.now(UTC)
        number = _order_number()
        audit_actor, request_id, ip, user_agent = audit.actor_values(actor)
        created = {"number": number, "total": amount, "razorpayPaymentId": payment.id, "items": len(lines)}
        row = await sql.fetchrow(
            _PLACE_ORDER,
            number,
            user_id,
            session_id,
            amount,
            currency,
            json.dumps(address),
            json.dumps(price_adjustments),
            now,
            actor.user_id,
            PLACED_NOTE,
            payment.id,
            payment.order_id or "",
            payment.amount,
            payment.currency,
            [x.variant_id for x in lines],
            [x.product_id for x in lines],
            [x.designer_id for x in lines],
            [x.title for x in lines],
            [x.sku for x in lines],
            [x.size for x in lines],
            [x.color for x in lines],
            [x.unit_price for x in lines],
            [x.quantity for x in lines],
            [x.line_total for x in lines],
            "order.created",
            audit_actor,
            audit.changes_json(created),
            request_id,
            ip,
            user_agent,
            *idempotency.finish_args(claim, result=_answer(number)),
        )
        assert row is not None  # the INSERT ... RETURNING of one row
        order = _model(Order, _ORDER_COLUMNS, list(row))
        # The contended rows last, then commit at once, so the hot-SKU lock is held as briefly as can be.
        await _take_stock(uow, lines)
        await uow.commit()
        return order, _written_items(order.id, lines), [_first_change(order.id, actor, now)]

    async def closed_elsewhere(uow: UnitOfWork) -> _Closed:
        return await _already_closed(uow, actor, session_id, payment, claim)

    try:
        placed = await uow.run(work, lean=True)
        # The session was no longer open: see how it ended (it is not locked: it changes no more).
        closed = await uow.run(closed_elsewhere) if placed is None else None
    except _OutOfStock as out:
        try:
            await _fail_out_of_stock(uow, gateway, actor, session_id, payment, claim, out.short)
        except _Completed as done:
            return done.order
        raise AssertionError("unreachable") from None
    except IntegrityError as error:
        if "razorpay_payment_id" in str(error.orig):
            # This payment already made an order (through another session row): never a second one.
            raise PaymentVerificationFailed("This payment was already used") from None
        raise
    if placed is not None:
        order, items, history = placed
        if on_placed is not None:
            on_placed(order, items, history)
        return order
    assert closed is not None
    if closed.refund_id is not None:
        # Committed first, carried out now; the outbox retries it should this call fail.
        await refunds.process_refund(uow, gateway, closed.refund_id)
    if isinstance(closed.outcome, DomainError):
        raise closed.outcome
    return closed.outcome


@dataclass(frozen=True, slots=True)
class _Closed:
    """How a session closed by someone else ended, and the refund owed for this payment, if any."""

    outcome: Order | DomainError
    refund_id: int | None


async def _already_closed(
    uow: UnitOfWork,
    actor: Actor,
    session_id: uuid.UUID,
    payment: GatewayPayment,
    claim: idempotency.Claim | None,
) -> _Closed:
    """The session was completed or failed by someone else (a racing request or webhook)."""
    s = uow.session
    order = await s.scalar(select(Order).where(Order.checkout_session_id == session_id))
    status, code = (
        await s.execute(
            select(CheckoutSession.status, CheckoutSession.failure_code).where(
                CheckoutSession.id == session_id
            )
        )
    ).one()
    known = await s.scalar(select(Payment.id).where(Payment.razorpay_payment_id == payment.id))
    refund_id = None
    if order is not None:
        if known is None:
            # A second payment for an already completed checkout: give the money back.
            refund_id = await _record_and_refund(uow, actor, session_id, payment, "duplicate_payment")
        await idempotency.finish(uow, claim, result=_answer(order.number))
        await uow.commit()
        return _Closed(order, refund_id)
    if known is None and status == CheckoutStatus.FAILED.value:
        refund_id = await _record_and_refund(uow, actor, session_id, payment, "checkout_failed")
    error = await _failure_of(uow, session_id, code)
    await uow.commit()
    return _Closed(error, refund_id)


async def _record_and_refund(
    uow: UnitOfWork, actor: Actor, session_id: uuid.UUID, payment: GatewayPayment, reason: str
) -> int:
    payment_row = await uow.session.scalar(
        insert(Payment)
        .values(
            razorpay_payment_id=payment.id,
            razorpay_order_id=payment.order_id or "",
            checkout_session_id=session_id,
            order_id=None,
            amount=payment.amount,
            currency=payment.currency,
            status=PaymentStatus.CAPTURED.value,
        )
        .returning(Payment.id)
    )
    assert payment_row is not None
    return await refunds.request_refund(
        uow,
        actor,
        payment_id=payment_row,
        order_id=None,
        amount=payment.amount,
        currency=payment.currency,
        reason=reason,
    )


async def _fail_out_of_stock(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    session_id: uuid.UUID,
    payment: GatewayPayment,
    claim: idempotency.Claim | None,
    short: list[dict[str, Any]],
) -> None:
    error = _insufficient(short)

    async def work(uow: UnitOfWork) -> int | None:
        updated = await uow.session.execute(
            text(
                "UPDATE checkout_sessions SET status = 'FAILED', failure_code = 'INSUFFICIENT_STOCK' "
                "WHERE id = :id AND status = 'OPEN' RETURNING id"
            ),
            {"id": session_id},
        )
        if updated.first() is None:
            await uow.commit()
            return None
        refund_id = await _record_and_refund(uow, actor, session_id, payment, "out_of_stock")
        await audit.record(
            uow,
            actor,
            "checkout.failed",
            "CheckoutSession",
            session_id,
            {"reason": "INSUFFICIENT_STOCK", "lines": short},
        )
        await idempotency.finish(uow, claim, error=error)
        await uow.commit()
        return refund_id

    refund_id = await uow.run(work)
    if refund_id is None:
        # Someone closed the session between our rollback and now: their outcome is the answer.
        order = await _order_for_session(uow, session_id)
        if order is not None:
            raise _Completed(order)
    else:
        await refunds.process_refund(uow, gateway, refund_id)
    raise error


class _Completed(Exception):
    def __init__(self, order: Order) -> None:
        self.order = order


async def _refund_stray_payment(
    uow: UnitOfWork, gateway: PaymentGateway, session: CheckoutSession, payment: GatewayPayment, reason: str
) -> None:
    """A captured payment that cannot become an order is recorded once and refunded."""

    async def work(uow: UnitOfWork) -> int | None:
        known = await uow.session.scalar(select(Payment.id).where(Payment.razorpay_payment_id == payment.id))
        if known is not None:
            await uow.commit()
            return None
        refund_id = await _record_and_refund(uow, Actor.system_actor(reason), session.id, payment, reason)
        await uow.commit()
        return refund_id

    refund_id = await uow.run(work)
    if refund_id is not None:
        await refunds.process_refund(uow, gateway, refund_id)


__all__ = [
    "Address",
    "PaymentProof",
    "checkout",
    "complete_paid_checkout",
    "confirm_payment",
    "start_checkout",
]
