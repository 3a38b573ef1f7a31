"""Compensation: a captured payment that cannot become an order is recorded once and refunded.

Stray payments (the wrong amount, paid after the quote lapsed, for a failed session), duplicates (a
second payment for a session that already made its order) and payments the stock no longer
covers. The refund is recorded in the same transaction as the payment (the outbox,
``kapda_gql.payments.refunds``) and carried out after the commit.
"""

from __future__ import annotations

import uuid

from kapda_gql.checkout import store
from kapda_gql.checkout.quote import failure_detail, failure_error, insufficient
from kapda_gql.checkout.results import ClosedElsewhere, Completion, OutOfStock, answer
from kapda_gql.core import audit, idempotency
from kapda_gql.db.models import CheckoutSession
from kapda_gql.db.uow import OrmUnit, UnitOfWork
from kapda_gql.domain.enums import CheckoutStatus
from kapda_gql.domain.errors import CheckoutExpired, InsufficientStock
from kapda_gql.domain.policy import Actor
from kapda_gql.payments import refunds
from kapda_gql.payments.gateway import GatewayPayment, PaymentGateway


async def record_and_refund(
    tx: OrmUnit, actor: Actor, session_id: uuid.UUID, payment: GatewayPayment, reason: str
) -> int:
    """Record the payment (no order) and its refund in the caller's transaction; the refund's id."""
    payment_pk = await store.record_stray_payment(tx, session_id, payment)
    return await refunds.request_refund(
        tx,
        actor,
        payment_id=payment_pk,
        order_id=None,
        amount=payment.amount,
        currency=payment.currency,
        reason=reason,
    )


async def refund_stray_payment(
    uow: UnitOfWork, gateway: PaymentGateway, session: CheckoutSession, payment: GatewayPayment, reason: str
) -> None:
    """A captured payment that cannot become an order: recorded once (whoever comes first) and refunded."""

    async def work(tx: OrmUnit) -> int | None:
        if await store.payment_recorded(tx, payment.id):
            await tx.commit()
            return None
        refund_id = await record_and_refund(tx, Actor.system_actor(reason), session.id, payment, reason)
        await tx.commit()
        return refund_id

    refund_id = await uow.run(work)
    if refund_id is not None:
        await refunds.process_refund(uow, gateway, refund_id)


async def refund_if_captured(
    uow: UnitOfWork, gateway: PaymentGateway, session: CheckoutSession, payment_id: str, reason: str
) -> None:
    """A payment of this session that cannot become an order: give back what was captured."""
    payment = await gateway.fetch_payment(payment_id)
    if payment.order_id == session.razorpay_order_id and payment.status == "captured":
        await refund_stray_payment(uow, gateway, session, payment, reason)


async def closed_elsewhere(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    session_id: uuid.UUID,
    payment: GatewayPayment,
    claim: idempotency.Claim | None,
) -> ClosedElsewhere:
    """The session was completed or failed by someone else; a payment it did not use is refunded."""

    async def work(tx: OrmUnit) -> tuple[ClosedElsewhere, int | None]:
        ended = await store.ended_session(tx, session_id, payment.id)
        refund_id = None
        if ended.order is not None:
            if not ended.payment_recorded:
                # A second payment for an already completed checkout: the money goes back, and
                # the session is used up for it (CHECKOUT_EXPIRED).
                refund_id = await record_and_refund(tx, actor, session_id, payment, "duplicate_payment")
                expired = CheckoutExpired()
                await idempotency.finish(tx, claim, error=expired)
                await tx.commit()
                return ClosedElsewhere(expired), refund_id
            await idempotency.finish(tx, claim, result=answer(ended.order.number))
            await tx.commit()
            return ClosedElsewhere(ended.order), refund_id
        if not ended.payment_recorded and ended.status == CheckoutStatus.FAILED.value:
            refund_id = await record_and_refund(tx, actor, session_id, payment, "checkout_failed")
        await tx.commit()
        return ClosedElsewhere(failure_error(ended.failure_code, ended.failure_detail)), refund_id

    closed, refund_id = await uow.run(work)
    if refund_id is not None:
        # Committed first, carried out now; the outbox retries it should this call fail.
        await refunds.process_refund(uow, gateway, refund_id)
    return closed


async def fail_out_of_stock(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    session_id: uuid.UUID,
    payment: GatewayPayment,
    claim: idempotency.Claim | None,
    out: OutOfStock,
) -> Completion:
    """The stock did not cover the order: fail the session (keeping why on its row), refund the payment."""
    error = insufficient(out.short)

    async def work(tx: OrmUnit) -> int | None:
        detail = failure_detail(InsufficientStock.code, out.short)
        if not await store.fail_session(
            tx, session_id, InsufficientStock.code, detail, actor_id=actor.user_id
        ):
            return None
        refund_id = await record_and_refund(tx, actor, session_id, payment, "out_of_stock")
        await audit.record(
            tx,
            actor,
            "checkout.failed",
            "CheckoutSession",
            session_id,
            {"reason": InsufficientStock.code, "lines": out.short},
        )
        await idempotency.finish(tx, claim, error=error)
        await tx.commit()
        return refund_id

    refund_id = await uow.run(work)
    if refund_id is None:
        # Someone closed the session between our rollback and now: their outcome is the answer.
        return await closed_elsewhere(uow, gateway, actor, session_id, payment, claim)
    await refunds.process_refund(uow, gateway, refund_id)
    return out
