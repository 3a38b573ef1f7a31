"""startCheckout: price the cart on the server, freeze the quote in a session, create the Razorpay order.

Never holds a transaction open across the call to Razorpay: the session is committed first, the
order created, then attached to the session in a second transaction.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from kapda_gql.checkout import store
from kapda_gql.checkout.address import Address
from kapda_gql.checkout.quote import (
    GATEWAY_FAILURE,
    QuoteLine,
    adjustments,
    failure_detail,
    insufficient,
    price_alerts,
    shortage,
)
from kapda_gql.core import idempotency
from kapda_gql.db.models import CheckoutSession
from kapda_gql.db.sql import violated_constraint
from kapda_gql.db.uow import LeanUnit, UnitOfWork
from kapda_gql.domain import pricing, stock
from kapda_gql.domain.errors import (
    BadUserInput,
    CartEmpty,
    DomainError,
    NotFound,
    PaymentGatewayUnavailable,
    ProductUnavailable,
    ServiceUnavailable,
)
from kapda_gql.domain.money import check_cart_total
from kapda_gql.domain.policy import Actor, require_user
from kapda_gql.payments.gateway import PaymentGateway

log = logging.getLogger("kapda_gql.checkout")


def quote_lines(rows: list[store.CartRow], *, cart_price_ttl_seconds: int) -> list[QuoteLine]:
    """The quote of a cart: every line sellable and in stock, priced now; else the error saying why."""
    if not rows:
        raise CartEmpty()
    lines = []
    now = datetime.now(UTC)
    for row in rows:
        if not stock.is_sellable(
            product_status=row.product_status,
            product_deleted_at=row.product_deleted_at,
            variant_deleted_at=row.variant_deleted_at,
        ):
            raise ProductUnavailable(
                f"{row.title} ({row.sku}) is no longer available", variantId=str(row.variant_id)
            )
        lines.append(
            QuoteLine(
                variant_id=row.variant_id,
                product_id=row.product_id,
                designer_id=row.designer_id,
                title=row.title,
                sku=row.sku,
                size=row.size,
                color=row.color,
                quantity=row.quantity,
                # The cart's own rule: a remembered price lapses, and then today's is the cart's.
                cart_price=pricing.remembered_price(
                    row.cart_price,
                    pricing.effective_price(row.variant_price, row.product_price),
                    remembered_at=row.priced_at,
                    now=now,
                    ttl_seconds=cart_price_ttl_seconds,
                ),
                current_price=pricing.effective_price(row.variant_price, row.product_price),
            )
        )
    short = shortage(lines, {row.variant_id: row.stock for row in rows})
    if short:
        raise insufficient(short)
    return lines


async def start_checkout(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    *,
    address: Address,
    idempotency_key: str | None,
    ttl_seconds: int,
    holds: bool = True,
    cart_price_ttl_seconds: int = pricing.CART_PRICE_TTL_SECONDS,
) -> CheckoutSession:
    user_id = require_user(actor)
    address = address.validated()
    claim, stored = await idempotency.begin(uow, user_id, idempotency_key, "startCheckout", address.to_json())
    if stored is not None:
        return await own_session(uow, user_id, uuid.UUID(stored["checkoutId"]))
    async with answering(uow, claim):
        return await _start(
            uow, gateway, actor, user_id, address, claim, ttl_seconds, holds, cart_price_ttl_seconds
        )


@contextlib.asynccontextmanager
async def answering(uow: UnitOfWork, claim: idempotency.Claim | None) -> AsyncIterator[None]:
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
    holds: bool,
    cart_price_ttl_seconds: int,
) -> CheckoutSession:
    async def quote(tx: LeanUnit) -> CheckoutSession:
        # Outside a transaction: the cart is read (a first look without locks: most of a crowd
        # racing for the last units fails here, never queueing on the hot variant rows), then one
        # statement, atomic on its own, replaces the open session and holds the units
        # (store.start_session), so no lock is held across a round trip.
        lines = quote_lines(await store.cart_rows(tx, user_id), cart_price_ttl_seconds=cart_price_ttl_seconds)
        amount = sum(line.line_total for line in lines)
        if amount <= 0:
            raise BadUserInput("cart", "the cart total must be above zero")
        check_cart_total(amount, "cart")
        changes = adjustments(lines)
        big = price_alerts(changes)
        new = store.NewSession(
            user_id=user_id,
            amount=amount,
            currency="INR",
            lines=lines,
            price_adjustments=changes,
            price_alerts=big,
            shipping_address=address.to_json(),
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
            holds=holds,
        )
        started = await store.start_session(tx, actor, new)
        if started.raced:
            raise _LostRace()
        if started.session is None:
            raise insufficient(shortage(lines, started.available))  # nothing changed: the open session stays
        if big:
            log.warning(
                "price changed over 10%% since added to cart",
                extra={"checkout": str(started.session.id), "lines": big},
            )
        return started.session

    session = await _replacing(uow, quote)
    try:
        order = await gateway.create_order(
            amount=session.amount,
            currency=session.currency,
            receipt=str(session.id)[:40],
            notes={"checkout_id": str(session.id), "user_id": str(user_id)},
        )
    except DomainError:
        async with uow.lean() as tx:
            await store.fail_session(tx, session.id, GATEWAY_FAILURE, failure_detail(GATEWAY_FAILURE))
            await tx.commit()
        raise

    async def attach(tx: LeanUnit) -> None:
        await store.attach_razorpay_order(tx, session.id, order.id, claim, {"checkoutId": str(session.id)})

    await uow.run_lean(attach, read=True)
    session.razorpay_order_id = order.id
    return session


# Each lost race means another startCheckout of the same customer committed: a customer firing
# this many at once gets SERVICE_UNAVAILABLE (retry) rather than waiting on itself without end.
_REPLACE_ATTEMPTS = 8


class _LostRace(Exception):
    """Another startCheckout of this customer committed first, seen as a shortage (store.Started)."""


async def _replacing(
    uow: UnitOfWork, quote: Callable[[LeanUnit], Awaitable[CheckoutSession]]
) -> CheckoutSession:
    """Run the quote; when another startCheckout of this customer committed its session first (the
    one-open-session index says so, or its holds were counted as another customer's), run it
    again, replacing that one."""
    for _ in range(_REPLACE_ATTEMPTS):
        try:
            return await uow.run_lean(quote, read=True)
        except _LostRace:
            continue
        except IntegrityError as error:
            if violated_constraint(error) != store.OPEN_SESSION_TAKEN:
                raise
    raise ServiceUnavailable("Too many checkouts of this account at once; retry shortly")


async def own_session(uow: UnitOfWork, user_id: int, session_id: uuid.UUID) -> CheckoutSession:
    async with uow.lean(read=True) as tx:
        session = await store.session_by_id(tx, session_id)
    if session is None or session.user_id != user_id:
        raise NotFound("Checkout not found")
    return session
