"""Checkout: a server-priced quote frozen in a session, a verified Razorpay payment, then exactly one order.

The concerns live apart: ``start`` (the quote and startCheckout), ``confirmation`` (signature,
then Razorpay's word on the payment), ``completion`` (one order per captured payment, as values),
``compensation`` (refunds of payments that made no order), ``address`` (the inputs), and ``store``
(all the SQL). This module is the ``checkout`` mutation that strings them together, and the names
the GraphQL layer and the webhooks call.
"""

from __future__ import annotations

import uuid
from typing import Any

from kapda_gql.checkout import compensation, store
from kapda_gql.checkout.address import Address, PaymentProof
from kapda_gql.checkout.completion import PlacedHook, complete
from kapda_gql.checkout.confirmation import confirm_payment, verified
from kapda_gql.checkout.quote import failure_error
from kapda_gql.checkout.results import Completion, Placed, answer, order_or_raise
from kapda_gql.checkout.start import answering, start_checkout
from kapda_gql.core import audit, idempotency, locks
from kapda_gql.db.models import CheckoutSession, Order
from kapda_gql.db.uow import LeanUnit, UnitOfWork
from kapda_gql.domain.enums import CheckoutStatus
from kapda_gql.domain.errors import CheckoutExpired, NotFound, PaymentVerificationFailed
from kapda_gql.domain.policy import Actor, require_user
from kapda_gql.payments.gateway import GatewayPayment, PaymentGateway


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
        idempotency.Claim(user_id, key, "checkout", idempotency.request_hash(proof.request_hash_payload()))
        if key
        else None
    )
    if claim is not None:
        stored = await idempotency.claim(uow, claim)
        if stored is not None:
            return await _answered_order(uow, stored)
    async with answering(uow, claim):
        async with uow.lean(read=True) as tx:
            found = await store.session_and_order(tx, proof.checkout_id)
        if found is None or found[0].user_id != user_id:
            raise NotFound("Checkout not found")
        session, existing, paid_with = found
        if proof.razorpay_order_id != session.razorpay_order_id or not verified(gateway, session, proof):
            raise PaymentVerificationFailed()
        if existing is not None:
            if paid_with != proof.razorpay_payment_id:
                # Another payment for a session that already made its order: given back, and
                # the session is used up for it.
                await compensation.refund_if_captured(
                    uow, gateway, session, proof.razorpay_payment_id, "duplicate_payment"
                )
                raise CheckoutExpired()
            # Paid and ordered already (an earlier request or the webhook): the same order again.
            await idempotency.finish_alone(uow, claim, result=answer(existing.number))
            return existing
        if session.status != CheckoutStatus.OPEN.value:
            # Failed already: a payment for it is never captured here (an authorized one lapses at
            # Razorpay on its own), and one captured elsewhere is given back.
            await compensation.refund_if_captured(
                uow, gateway, session, proof.razorpay_payment_id, "checkout_failed"
            )
            raise failure_error(session.failure_code, session.failure_detail)
        payment = await confirm_payment(
            uow, gateway, session, proof.razorpay_payment_id, signature_verified=True
        )
        return await complete_paid_checkout(
            uow, gateway, actor, session.id, payment, claim=claim, on_placed=on_placed
        )


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
    """``completion.complete`` for callers that answer with an order or a domain error.

    ``on_placed`` hears the lines and the first history row exactly as this call wrote them, so a
    caller that shows the new order needs no second round of reads.
    """
    result = await complete(uow, gateway, actor, session_id, payment, claim=claim)
    if isinstance(result, Placed) and on_placed is not None:
        on_placed(result.order, result.items, result.history)
    return order_or_raise(result)


async def settle_payment(
    uow: UnitOfWork, gateway: PaymentGateway, actor: Actor, session: CheckoutSession, payment_id: str
) -> Completion:
    """The one settlement path for a payment of a session's Razorpay order, whoever heard of it
    (a webhook event, the poll; the mutation takes it too, after checking the client's signature):
    Razorpay's own word on the payment (captured if authorized), then ``complete`` under the
    session row's lock: exactly one order, or exactly one refund."""
    confirmed = await confirm_payment(uow, gateway, session, payment_id)
    return await complete(uow, gateway, actor, session.id, confirmed)


async def cancel_checkout(uow: UnitOfWork, actor: Actor, session_id: uuid.UUID) -> bool:
    """End the customer's open session now and give its held units back (exactly once: the
    session row's ``UPDATE ... WHERE status = 'OPEN'`` lets one caller end it). A payment that
    still comes for it is refunded (CHECKOUT_EXPIRED)."""
    user_id = require_user(actor)

    async def work(tx: LeanUnit) -> bool:
        ended = await store.cancel_session(tx, session_id, user_id)
        if ended is None:
            return False
        await locks.variants(tx, ended.variant_ids)  # the lock order: session, variants, holds
        await store.release(tx, ended, actor.user_id)
        await audit.record(tx, actor, "checkout.cancelled", "CheckoutSession", session_id, {})
        await tx.commit()
        return True

    if await uow.run_lean(work):
        return True
    async with uow.lean(read=True) as tx:
        session = await store.session_by_id(tx, session_id)
    if session is None or session.user_id != user_id:
        raise NotFound("Checkout not found")
    return False


async def session_of_razorpay_order(uow: UnitOfWork, razorpay_order_id: str) -> CheckoutSession | None:
    """The session a Razorpay order was created for (what a webhook event names)."""
    async with uow.lean(read=True) as tx:
        return await store.session_of_razorpay_order(tx, razorpay_order_id)


async def _answered_order(uow: UnitOfWork, stored: dict[str, Any]) -> Order:
    async with uow.lean(read=True) as tx:
        # "orderId": answers stored before the number was (keys live 24 hours).
        if "orderNumber" in stored:
            order = await store.order_by_number(tx, stored["orderNumber"])
        else:
            order = await store.order_by_id(tx, int(stored["orderId"]))
    if order is None:
        raise NotFound("Order not found")
    return order


__all__ = [
    "Address",
    "PaymentProof",
    "PlacedHook",
    "cancel_checkout",
    "checkout",
    "complete",
    "complete_paid_checkout",
    "confirm_payment",
    "session_of_razorpay_order",
    "settle_payment",
    "start_checkout",
]
