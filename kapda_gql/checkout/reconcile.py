"""The Razorpay poll: ask Razorpay itself about open sessions' orders and settle what it reports.

A customer who paid and closed the tab, with no webhook ever arriving (Razorpay gave up, or the
webhook is misconfigured), still gets its order: every ``KAPDA_RECONCILE_SECONDS`` each service
process claims a batch of sessions older than a minute (open, or whose quote lapsed recently),
asks Razorpay for their order's payments (through the SDK, on the gateway's threads, with its
timeout) and settles each payable one through ``services.settle_payment`` — the same path the
``checkout`` mutation and the webhooks take, so the session row decides: exactly one order, or
exactly one refund. ``kapda-gql reconcile payments`` runs one round at once. Each round also
tidies lapsed holds (``store.sweep_lapsed_holds``): they hold nothing already, the sweep only
writes their RELEASE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kapda_gql.checkout import services, store
from kapda_gql.checkout.results import Placed
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.errors import DomainError, PaymentGatewayUnavailable
from kapda_gql.domain.policy import Actor
from kapda_gql.payments.gateway import PaymentGateway

log = logging.getLogger("kapda_gql.checkout.reconcile")
ACTOR = Actor.system_actor("reconcile")
PAYABLE = frozenset({"authorized", "captured"})
MIN_AGE_SECONDS = 60.0  # younger sessions are still in the customer's hands
RECENT_SECONDS = 24 * 3600.0  # a payment made in time may be heard of this long after
BATCH = 100
SWEEP_GRACE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Round:
    checked: int
    placed: int
    refused: int
    failed: int
    released: int


async def reconcile_payments(
    uow_factory: Callable[[], UnitOfWork],
    gateway: PaymentGateway,
    *,
    every_seconds: float,
    min_age_seconds: float = MIN_AGE_SECONDS,
    limit: int = BATCH,
) -> Round:
    """One round of the poll (the background task's, or the operator command's)."""
    uow = uow_factory()
    async with uow.lean() as tx:
        released = await store.sweep_lapsed_holds(tx, SWEEP_GRACE_SECONDS, limit)
        await tx.commit()
    async with uow.lean() as tx:
        claimed = await store.claim_for_poll(
            tx,
            age_seconds=min_age_seconds,
            recent_seconds=RECENT_SECONDS,
            every_seconds=every_seconds,
            limit=limit,
        )
        await tx.commit()
    placed = refused = failed = 0
    for session_id, razorpay_order_id in claimed:
        try:
            payments = await gateway.order_payments(razorpay_order_id)
        except DomainError as error:
            log.warning("reconcile: Razorpay order %s not read: %s", razorpay_order_id, error.message)
            failed += 1
            continue
        for payment in payments:
            if payment.status not in PAYABLE:
                continue
            async with uow_factory().lean(read=True) as tx:
                session = await store.session_by_id(tx, session_id)
            if session is None:
                break
            try:
                result = await services.settle_payment(uow_factory(), gateway, ACTOR, session, payment.id)
            except PaymentGatewayUnavailable:
                failed += 1  # the next round asks again
                continue
            except DomainError as error:
                log.info("reconcile: payment %s of %s refused: %s", payment.id, session_id, error.code)
                refused += 1
                continue
            if isinstance(result, Placed):
                log.info("reconcile: payment %s made the order of checkout %s", payment.id, session_id)
                placed += 1
    return Round(len(claimed), placed, refused, failed, len(released))
