"""The refund outbox.

A refund is recorded as a row in the same transaction as the change that calls
for it (a cancelled order, a payment that could not become an order), and is
carried out at Razorpay only after that transaction commits — by the caller
right away and, should the process die first, by the background worker or
`kapda-gql refunds process`. Every attempt sends the row's idempotency key, so
a retry after a crash can never refund twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update

from kapda_gql.core import audit
from kapda_gql.db.models import Order, Payment, Refund
from kapda_gql.db.uow import OrmUnit, UnitOfWork
from kapda_gql.domain import lifecycles
from kapda_gql.domain.enums import PaymentStatus, RefundStatus
from kapda_gql.domain.errors import PaymentGatewayRejected, PaymentGatewayUnavailable
from kapda_gql.domain.policy import Actor
from kapda_gql.payments.gateway import GatewayRefund, PaymentGateway

log = logging.getLogger("kapda_gql.refunds")
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=30)


async def request_refund(
    tx: OrmUnit,
    actor: Actor,
    *,
    payment_id: int,
    order_id: int | None,
    amount: int,
    currency: str,
    reason: str,
) -> int:
    """Record the intent inside the caller's transaction; returns the outbox row id."""
    refund = Refund(
        payment_id=payment_id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        reason=reason,
        idempotency_key=f"kapda-refund-{uuid.uuid4().hex}",
        status=RefundStatus.PENDING.value,
    )
    tx.session.add(refund)
    await tx.session.flush()
    await tx.session.execute(
        update(Payment)
        .where(Payment.id == payment_id)
        .values(status=lifecycles.PAYMENT_WHILE_REFUNDING.value)
    )
    if order_id is not None:
        await tx.session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(payment_status=lifecycles.PAYMENT_WHILE_REFUNDING.value)
        )
    await audit.record(
        tx,
        actor,
        "refund.requested",
        "Payment",
        payment_id,
        {"amount": amount, "reason": reason, "refundId": refund.id},
    )
    return int(refund.id)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    idempotency_key: str
    amount: int
    razorpay_payment_id: str
    razorpay_refund_id: str | None
    attempts: int


_CLAIM = text(
    """
    UPDATE refunds r SET next_attempt_at = now() + make_interval(secs => CAST(:lease AS double precision)), attempts = r.attempts + 1
    FROM payments p
    WHERE r.id = (
        SELECT id FROM refunds
        WHERE status = 'PENDING'
          AND (CAST(:refund_id AS bigint) IS NULL OR id = CAST(:refund_id AS bigint))
          AND (CAST(:any_time AS boolean) OR next_attempt_at <= now())
        ORDER BY next_attempt_at, id
        LIMIT 1 FOR UPDATE SKIP LOCKED
    ) AND p.id = r.payment_id
    RETURNING r.id, r.idempotency_key, r.amount, p.razorpay_payment_id, r.razorpay_refund_id, r.attempts
    """
)


async def _claim(uow: UnitOfWork, refund_id: int | None, any_time: bool) -> _Claimed | None:
    """Lease one due refund (SKIP LOCKED: several workers never take the same row)."""
    async with uow:
        row = (
            await uow.session.execute(
                _CLAIM, {"lease": LEASE.total_seconds(), "refund_id": refund_id, "any_time": any_time}
            )
        ).first()
        await uow.commit()
    return _Claimed(*row) if row else None


async def _settle(uow: UnitOfWork, claimed: _Claimed, result: GatewayRefund) -> str:
    async def work(uow: UnitOfWork) -> str:
        refund = await uow.session.get(Refund, claimed.id, with_for_update=True)
        assert refund is not None
        if refund.status != RefundStatus.PENDING.value:
            await uow.commit()
            return refund.status
        refund.razorpay_refund_id = result.id
        if result.status == "processed":
            await mark_processed(uow, refund)
        elif result.status == "failed":
            refund.status = RefundStatus.FAILED.value
            refund.last_error = "Razorpay reported the refund as failed"
            await audit.record(
                uow,
                Actor.system_actor("refunds"),
                "refund.failed",
                "Refund",
                refund.id,
                {"razorpayRefundId": result.id},
            )
        else:
            # Accepted but not settled yet: poll again later (the refund.processed webhook may settle it first).
            refund.next_attempt_at = datetime.now(UTC) + timedelta(seconds=30)
        await uow.commit()
        return refund.status

    return await uow.run(work)


async def mark_processed(uow: UnitOfWork, refund: Refund) -> None:
    """Settle a refund inside an open transaction: the payment and order follow."""
    refund.status = RefundStatus.PROCESSED.value
    refund.processed_at = datetime.now(UTC)
    if refund.order_id is not None:
        # Order before payment: the same order transitions take their locks in, so the two never deadlock.
        await uow.session.execute(select(Order.id).where(Order.id == refund.order_id).with_for_update())
    payment = await uow.session.get(Payment, refund.payment_id, with_for_update=True)
    assert payment is not None
    payment.refunded_amount = min(payment.amount, payment.refunded_amount + refund.amount)
    fully = payment.refunded_amount >= payment.amount
    payment.status = (PaymentStatus.REFUNDED if fully else PaymentStatus.PARTIALLY_REFUNDED).value
    if refund.order_id is not None:
        await uow.session.execute(
            update(Order).where(Order.id == refund.order_id).values(payment_status=payment.status)
        )
    await uow.session.flush()
    await audit.record(
        uow,
        Actor.system_actor("refunds"),
        "refund.processed",
        "Refund",
        refund.id,
        {
            "amount": refund.amount,
            "razorpayRefundId": refund.razorpay_refund_id,
            "paymentStatus": payment.status,
        },
    )


async def _failed_attempt(uow: UnitOfWork, claimed: _Claimed, error: Exception) -> None:
    backoff = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(claimed.attempts, 12)))
    async with uow:
        await uow.session.execute(
            update(Refund)
            .where(Refund.id == claimed.id, Refund.status == RefundStatus.PENDING.value)
            .values(last_error=str(error)[:1000], next_attempt_at=datetime.now(UTC) + backoff)
        )
        await uow.commit()


async def _attempt(uow: UnitOfWork, gateway: PaymentGateway, claimed: _Claimed) -> str:
    try:
        if claimed.razorpay_refund_id:
            result = await gateway.fetch_refund(claimed.razorpay_refund_id)
        else:
            result = await gateway.refund_payment(
                claimed.razorpay_payment_id, amount=claimed.amount, idempotency_key=claimed.idempotency_key
            )
    except (PaymentGatewayUnavailable, PaymentGatewayRejected) as error:
        log.warning("refund %s attempt %d failed: %s", claimed.id, claimed.attempts, error.message)
        await _failed_attempt(uow, claimed, error)
        return "RETRYING"
    return await _settle(uow, claimed, result)


async def process_refund(uow: UnitOfWork, gateway: PaymentGateway, refund_id: int) -> str:
    """Carry out one refund now (right after the commit that recorded it)."""
    claimed = await _claim(uow, refund_id, any_time=True)
    if claimed is None:
        return "NOT_DUE"
    return await _attempt(uow, gateway, claimed)


@dataclass(frozen=True, slots=True)
class ProcessResult:
    processed: int
    failed: int
    retrying: int


async def process_due(
    uow_factory: Callable[[], UnitOfWork],
    gateway: PaymentGateway,
    *,
    include_not_due: bool = False,
    limit: int = 100,
) -> ProcessResult:
    """Work through due refunds; ``uow_factory`` (such as ``Database.uow``) gives a fresh UnitOfWork."""
    counts = {"PROCESSED": 0, "FAILED": 0, "RETRYING": 0}
    seen: set[int] = set()
    for _ in range(limit):
        uow = uow_factory()
        claimed = await _claim(uow, None, include_not_due)
        if claimed is None or claimed.id in seen:
            break
        seen.add(claimed.id)
        outcome = await _attempt(uow, gateway, claimed)
        counts[outcome if outcome in counts else "RETRYING"] += 1
    return ProcessResult(counts["PROCESSED"], counts["FAILED"], counts["RETRYING"])
