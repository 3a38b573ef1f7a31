"""The refund outbox.

A refund is recorded as a row in the same transaction as the change that calls
for it (a cancelled order, a payment that could not become an order), and is
carried out at Razorpay only after that transaction commits — by the caller
right away and, should the process die first, by the background worker or
`kapda-gql refunds process`. Every attempt sends the row's idempotency key, so
a retry after a crash can never refund twice.

A refund is settled only on Razorpay's own answer (``GatewayRefund``), whether the outbox asked
for it or a webhook named it: ``settle`` is the one place a refund becomes PROCESSED or FAILED.

Razorpay's refusals are retried, except the two that can never succeed: the payment is already
refunded in full, or the amount exceeds what is left of it. That happens when someone refunded in
Razorpay's dashboard. Such a refund is settled from Razorpay's record of the payment's refunds:
PROCESSED as the outside refund when processed refunds no row of ours stands for cover it, FAILED
with the refusal otherwise. Its audit entry says ``outside``, and ``kapda-gql reconcile`` lists it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kapda_gql.core import audit, locks
from kapda_gql.db.uow import LeanUnit, Unit, UnitOfWork
from kapda_gql.domain.enums import RefundStatus
from kapda_gql.domain.errors import DomainError, PaymentGatewayRejected, PaymentGatewayUnavailable
from kapda_gql.domain.lifecycles import PAYMENT_WHILE_REFUNDING, REFUND, payment_status_after_refund
from kapda_gql.domain.policy import Actor
from kapda_gql.payments import store
from kapda_gql.payments.gateway import GatewayRefund, PaymentGateway
from kapda_gql.payments.store import RefundRow

log = logging.getLogger("kapda_gql.refunds")
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=30)
POLL_PENDING = timedelta(seconds=30)
OUTBOX = Actor.system_actor("refunds")


async def request_refund(
    tx: Unit,
    actor: Actor,
    *,
    payment_id: int,
    order_id: int | None,
    amount: int,
    currency: str,
    reason: str,
) -> int:
    """Record the intent inside the caller's transaction; returns the outbox row id.

    The one place a payment (and its order) becomes REFUND_PENDING.
    """
    refund_id = await store.insert_refund(
        tx, payment_id=payment_id, order_id=order_id, amount=amount, currency=currency, reason=reason
    )
    await store.set_payment_status(tx, payment_id, order_id, PAYMENT_WHILE_REFUNDING)
    await audit.record(
        tx,
        actor,
        "refund.requested",
        "Payment",
        payment_id,
        {"amount": amount, "reason": reason, "refundId": refund_id},
    )
    return refund_id


# --- settling: on Razorpay's answer only ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refused:
    """Razorpay refused the refund for good, and nothing refunded outside covers it."""

    reason: str


async def settle(
    tx: Unit, refund: RefundRow, result: GatewayRefund | Refused, actor: Actor, *, outside: bool = False
) -> str:
    """Apply Razorpay's answer about this (locked, PENDING) refund; returns the refund's status.

    ``outside``: the answer is a refund made outside the service, which this row now stands for.
    """
    if isinstance(result, Refused):
        await _failed(tx, refund, None, actor, error=result.reason, outside=True)
        return RefundStatus.FAILED.value
    if refund.razorpay_refund_id != result.id:
        await store.name_refund(tx, refund.id, result.id)
    if result.status == "processed":
        await _processed(tx, refund, result.id, actor, outside=outside)
        return RefundStatus.PROCESSED.value
    if result.status == "failed":
        await _failed(tx, refund, result.id, actor)
        return RefundStatus.FAILED.value
    # Accepted but not settled yet: poll again later (the refund.processed webhook may settle it first).
    await store.poll_later(tx, refund.id, datetime.now(UTC) + POLL_PENDING)
    return RefundStatus.PENDING.value


async def _processed(
    tx: Unit, refund: RefundRow, razorpay_refund_id: str, actor: Actor, *, outside: bool = False
) -> None:
    """The refund is done: the payment and order follow (locks: refund, then order, then payment)."""
    REFUND.check(RefundStatus(refund.status), RefundStatus.PROCESSED)
    now = datetime.now(UTC)
    await store.settle_refund(tx, refund.id, RefundStatus.PROCESSED, at=now, error=None)
    if refund.order_id is not None:
        await locks.order(tx, refund.order_id)
    payment = await locks.payment(tx, refund.payment_id)
    assert payment is not None  # a refund's payment is never deleted (RESTRICT)
    amount, refunded = int(payment[1]), int(payment[4])
    refunded = min(amount, refunded + refund.amount)
    status = payment_status_after_refund(
        captured=amount,
        refunded=refunded,
        others_pending=await store.others_pending(tx, refund.payment_id, refund.id),
    )
    await store.set_refunded(tx, refund.payment_id, refunded, status)
    if refund.order_id is not None:
        await store.set_order_refunded(tx, refund.order_id, status, now)
    await audit.record(
        tx,
        actor,
        "refund.processed",
        "Refund",
        refund.id,
        {
            "amount": refund.amount,
            "razorpayRefundId": razorpay_refund_id,
            "paymentStatus": status.value,
            **({"outside": True} if outside else {}),
        },
    )


async def _failed(
    tx: Unit,
    refund: RefundRow,
    razorpay_refund_id: str | None,
    actor: Actor,
    *,
    error: str = "Razorpay reported the refund as failed",
    outside: bool = False,
) -> None:
    """Razorpay gave up on the refund: it stays visible (payment REFUND_PENDING) for staff to act on.

    A FAILED refund no longer counts against the capture: nothing went back, so a later refund of
    the order (a whole-order cancel) may ask for its amount again.
    """
    REFUND.check(RefundStatus(refund.status), RefundStatus.FAILED)
    await store.settle_refund(tx, refund.id, RefundStatus.FAILED, at=None, error=error)
    await audit.record(
        tx,
        actor,
        "refund.failed",
        "Refund",
        refund.id,
        {"razorpayRefundId": razorpay_refund_id, **({"outside": True, "reason": error} if outside else {})},
    )


class AmbiguousRefund(Exception):
    """Razorpay's refund matches more than one of ours that has no Razorpay id yet."""


@dataclass(frozen=True, slots=True)
class Reported:
    """What a refund Razorpay told us about (a webhook) did to ours."""

    status: str | None  # the refund's status now; None when it is not one of ours
    changed: bool


async def settle_reported(uow: UnitOfWork, result: GatewayRefund, actor: Actor) -> Reported:
    """Settle the outbox row of a refund Razorpay reported (its answer, fetched, never a message body)."""

    async def work(tx: LeanUnit) -> Reported:
        refund = RefundRow.of(await locks.refund_by_razorpay_id(tx, result.id))
        if refund is None:
            refund = await _unnamed(tx, result)
            if refund is None:
                # The outbox may have recorded the id while we waited on its row lock: look again.
                refund = RefundRow.of(await locks.refund_by_razorpay_id(tx, result.id))
        if refund is None:
            await tx.commit()
            return Reported(None, changed=False)
        if refund.status != RefundStatus.PENDING.value:
            await tx.commit()
            return Reported(refund.status, changed=False)
        status = await settle(tx, refund, result, actor)
        await tx.commit()
        return Reported(status, changed=status != RefundStatus.PENDING.value)

    return await uow.run_lean(work)


async def _unnamed(tx: Unit, result: GatewayRefund) -> RefundRow | None:
    """A PENDING outbox row of this payment and amount that does not know its Razorpay id yet.

    The outbox commits its row before it calls Razorpay, so a refund of ours always finds that
    row; no row means the refund was made elsewhere (the dashboard).
    """
    payment_pk = await store.payment_pk(tx, result.payment_id)
    if payment_pk is None:
        return None
    candidates = await locks.unnamed_refunds(tx, payment_pk, RefundStatus.PENDING.value, result.amount)
    if len(candidates) > 1:
        # Two refunds of one amount: only the outbox, which knows which answer is whose, can tell.
        raise AmbiguousRefund(
            f"{len(candidates)} pending refunds of {result.amount} on {result.payment_id}; "
            "retry once the outbox has recorded their Razorpay ids"
        )
    return RefundRow.of(candidates[0]) if candidates else None


# --- the outbox ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    idempotency_key: str
    amount: int
    razorpay_payment_id: str
    razorpay_refund_id: str | None
    attempts: int


async def _claim(
    uow: UnitOfWork, refund_id: int | None, any_time: bool, skipping: Collection[int] = ()
) -> _Claimed | None:
    """Lease one due refund: one atomic statement, so no transaction around it."""
    async with uow.lean(read=True) as tx:
        row = await store.claim_due_refund(
            tx, lease=LEASE, refund_id=refund_id, any_time=any_time, skipping=skipping
        )
    return _Claimed(*row) if row else None


async def _settle_claimed(uow: UnitOfWork, claimed: _Claimed, result: GatewayRefund) -> str:
    async def work(tx: LeanUnit) -> str:
        refund = RefundRow.of(await locks.refund(tx, claimed.id))
        assert refund is not None  # outbox rows are never deleted
        if refund.status != RefundStatus.PENDING.value:
            await tx.commit()
            return refund.status
        status = await settle(tx, refund, result, OUTBOX)
        await tx.commit()
        return status

    return await uow.run_lean(work)


# Razorpay's descriptions of refusals that no retry can change (matched in its gateway description).
FINAL_REFUSALS = ("has been fully refunded already", "greater than the refund payment amount")


def _final(error: PaymentGatewayRejected) -> bool:
    description = str(error.extensions.get("gatewayDescription") or error.message)
    return any(text in description for text in FINAL_REFUSALS)


async def _settle_refused(
    uow: UnitOfWork, gateway: PaymentGateway, claimed: _Claimed, error: PaymentGatewayRejected
) -> str:
    """Razorpay will never carry this refund out: settle it from what Razorpay says was refunded."""
    theirs = await gateway.payment_refunds(claimed.razorpay_payment_id)

    async def work(tx: LeanUnit) -> str:
        refund = RefundRow.of(await locks.refund(tx, claimed.id))
        assert refund is not None  # outbox rows are never deleted
        if refund.status != RefundStatus.PENDING.value:
            await tx.commit()
            return refund.status
        held = await store.held_razorpay_refunds(tx, refund.payment_id)
        outside = [r for r in theirs if r.status == "processed" and r.id not in held]
        if outside and sum(r.amount for r in outside) >= refund.amount:
            # The largest stands for ours: one Razorpay id per row, and the money is accounted for.
            chosen = max(outside, key=lambda r: r.amount)
            status = await settle(tx, refund, chosen, OUTBOX, outside=True)
        else:
            status = await settle(tx, refund, Refused(error.message), OUTBOX)
        await tx.commit()
        return status

    log.warning("refund %s refused for good (%s): settled from Razorpay's refunds", claimed.id, error.message)
    return await uow.run_lean(work)


async def _failed_attempt(uow: UnitOfWork, claimed: _Claimed, error: Exception) -> None:
    backoff = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(claimed.attempts, 12)))
    async with uow.lean(read=True) as tx:
        await store.failed_attempt(tx, claimed.id, str(error), datetime.now(UTC) + backoff)


async def _retry_later(uow: UnitOfWork, claimed: _Claimed, error: DomainError) -> str:
    log.warning("refund %s attempt %d failed: %s", claimed.id, claimed.attempts, error.message)
    await _failed_attempt(uow, claimed, error)
    return "RETRYING"


async def _attempt(uow: UnitOfWork, gateway: PaymentGateway, claimed: _Claimed) -> str:
    try:
        if claimed.razorpay_refund_id:
            result = await gateway.fetch_refund(claimed.razorpay_refund_id)
        else:
            result = await gateway.refund_payment(
                claimed.razorpay_payment_id, amount=claimed.amount, idempotency_key=claimed.idempotency_key
            )
    except PaymentGatewayRejected as error:
        if not _final(error):
            return await _retry_later(uow, claimed, error)
        try:
            return await _settle_refused(uow, gateway, claimed, error)
        except PaymentGatewayUnavailable as unavailable:
            return await _retry_later(uow, claimed, unavailable)
    except PaymentGatewayUnavailable as error:
        return await _retry_later(uow, claimed, error)
    return await _settle_claimed(uow, claimed, result)


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
    # Each refund once per call: with include_not_due a refund that just failed is due again at
    # once, and claiming it again would count a second attempt (and call Razorpay again).
    seen: set[int] = set()
    for _ in range(limit):
        uow = uow_factory()
        claimed = await _claim(uow, None, include_not_due, skipping=seen)
        if claimed is None:
            break
        seen.add(claimed.id)
        outcome = await _attempt(uow, gateway, claimed)
        counts[outcome if outcome in counts else "RETRYING"] += 1
    return ProcessResult(counts["PROCESSED"], counts["FAILED"], counts["RETRYING"])
