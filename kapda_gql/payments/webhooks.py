"""Razorpay webhook events: stored once, handled after, every effect applied at most once.

Razorpay delivers at least once, out of order, and only retries on a non-2xx
answer. So the route stores each event under its unique event id before
anything else (a repeat stores nothing and does nothing), answers 200 once it
is stored, and handles it afterwards. Handling never trusts the order of
arrival: every handler reads the current state and converges on it.

- ``payment.authorized`` / ``payment.captured`` / ``order.paid`` complete a
  checkout whose client never called ``checkout``, through the very functions
  the mutation uses (``checkout.confirm_payment`` then
  ``checkout.complete_paid_checkout``), so the checkout session's
  ``UPDATE ... WHERE status = 'OPEN'`` decides who makes the one order, and the
  row locks come in the same order as the mutation's: session, payment,
  variants by id. ``payment.authorized`` is handled too because with manual
  capture it is the only event Razorpay sends until someone captures.
- ``payment.failed`` is recorded in the audit log and changes nothing else:
  a later (or earlier) capture of another attempt stands.
- ``refund.processed`` / ``refund.failed`` settle the refund outbox row.

A handler failure is recorded on the event (FAILED, attempts, last_error) and
``retry_failed`` (``kapda-gql webhooks retry``) handles those events again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from kapda_gql.checkout import services as checkout
from kapda_gql.core import audit
from kapda_gql.db.models import CheckoutSession, Payment, Refund, WebhookEvent
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.enums import RefundStatus, WebhookStatus
from kapda_gql.domain.errors import (
    CheckoutExpired,
    DomainError,
    InsufficientStock,
    PaymentAmountMismatch,
    PaymentGatewayUnavailable,
)
from kapda_gql.domain.policy import Actor
from kapda_gql.payments import refunds
from kapda_gql.payments.gateway import PaymentGateway

log = logging.getLogger("kapda_gql.webhooks")
ACTOR = Actor.system_actor("webhook")
# A RECEIVED event this old was never handled (the process died, or storing outlived its answer).
STALE_AFTER = timedelta(minutes=2)
FINAL = frozenset({WebhookStatus.PROCESSED.value, WebhookStatus.IGNORED.value})
# Checkout refused the payment and refunded it: the event did what it could, there is nothing to retry.
_SETTLED_REFUSALS = (InsufficientStock, CheckoutExpired, PaymentAmountMismatch)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: WebhookStatus
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RetryResult:
    attempted: int
    succeeded: int
    failed: int


class _Malformed(Exception):
    """The event is signed but lacks what its type promises: retrying cannot help."""


class _NotYet(Exception):
    """The state this event settles is not recorded yet; a later retry can settle it."""


# --- storing --------------------------------------------------------------------------------


async def store_event(
    uow: UnitOfWork, *, event_id: str, event_type: str, payload: dict[str, Any]
) -> WebhookEvent | None:
    """Store the event durably; None when this event id was stored before (a repeated delivery)."""
    async with uow:
        row = await uow.session.scalar(
            insert(WebhookEvent)
            .values(
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                status=WebhookStatus.RECEIVED.value,
            )
            .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id])
            .returning(WebhookEvent)
        )
        await uow.commit()
    return row


# --- handling -------------------------------------------------------------------------------


async def handle_event(uow: UnitOfWork, gateway: PaymentGateway, event: WebhookEvent) -> str:
    """Handle one stored event and record the outcome on it; never raises for a handler failure."""
    async with uow:
        current = await uow.session.scalar(select(WebhookEvent.status).where(WebhookEvent.id == event.id))
    if current in FINAL:
        return str(current)
    handler = _HANDLERS.get(event.event_type)
    if handler is None:
        outcome = Outcome(WebhookStatus.IGNORED, f"event type {event.event_type} is not handled")
    else:
        try:
            outcome = await handler(uow, gateway, event.event_type, event.payload)
        except _Malformed as error:
            outcome = Outcome(WebhookStatus.IGNORED, f"malformed event: {error}")
        except Exception as error:  # recorded on the event for the retry command, never raised
            if isinstance(error, PaymentGatewayUnavailable | _NotYet):
                log.warning("webhook %s (%s) failed: %s", event.event_id, event.event_type, error)
            else:
                log.exception("webhook %s (%s) failed", event.event_id, event.event_type)
            outcome = Outcome(WebhookStatus.FAILED, _describe(error))
    await _finish(uow, event.id, outcome)
    return outcome.status.value


async def record_failure(uow: UnitOfWork, event_pk: int, error: str) -> None:
    """Mark an event FAILED from outside its handler (it was cut short)."""
    await _finish(uow, event_pk, Outcome(WebhookStatus.FAILED, error))


async def _finish(uow: UnitOfWork, event_pk: int, outcome: Outcome) -> None:
    stmt = update(WebhookEvent).where(WebhookEvent.id == event_pk)
    if outcome.status is WebhookStatus.FAILED:
        # A concurrent handling of the same event (the retry command, say) may have settled it: keep that.
        stmt = stmt.where(WebhookEvent.status.not_in(FINAL))
    done = outcome.status is not WebhookStatus.FAILED
    async with uow:
        await uow.session.execute(
            stmt.values(
                status=outcome.status.value,
                attempts=WebhookEvent.attempts + 1,
                last_error=outcome.note[:2000] if outcome.note else None,
                processed_at=datetime.now(UTC) if done else None,
            )
        )
        await uow.commit()


def _describe(error: BaseException) -> str:
    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"[:2000]


_Handler = Callable[[UnitOfWork, PaymentGateway, str, dict[str, Any]], Awaitable[Outcome]]


def _entity(payload: dict[str, Any], name: str) -> dict[str, Any]:
    try:
        entity = payload["payload"][name]["entity"]
    except (KeyError, TypeError):
        raise _Malformed(f"no {name} entity") from None
    if not isinstance(entity, dict):
        raise _Malformed(f"no {name} entity")
    return entity


def _text(entity: dict[str, Any], key: str) -> str:
    value = entity.get(key)
    if not isinstance(value, str) or not value:
        raise _Malformed(f"{entity.get('entity', 'entity')}.{key} is missing")
    return value


async def _session_for(uow: UnitOfWork, razorpay_order_id: str) -> CheckoutSession | None:
    async with uow:
        return await uow.session.scalar(
            select(CheckoutSession).where(CheckoutSession.razorpay_order_id == razorpay_order_id)
        )


async def _payment_status(uow: UnitOfWork, razorpay_payment_id: str) -> str | None:
    async with uow:
        return await uow.session.scalar(
            select(Payment.status).where(Payment.razorpay_payment_id == razorpay_payment_id)
        )


async def _complete_checkout(
    uow: UnitOfWork, gateway: PaymentGateway, event_type: str, payload: dict[str, Any]
) -> Outcome:
    """The customer paid (and perhaps closed the tab): make the order the mutation would have made."""
    payment = _entity(payload, "payment")
    payment_id = _text(payment, "id")
    order_id = payment.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        return Outcome(WebhookStatus.IGNORED, "the payment is not for a Razorpay order")
    session = await _session_for(uow, order_id)
    if session is None:
        return Outcome(WebhookStatus.IGNORED, f"no checkout for Razorpay order {order_id}")
    if await _payment_status(uow, payment_id) is not None:
        # Already made an order or was refunded, by the mutation or an earlier event.
        return Outcome(WebhookStatus.PROCESSED)
    try:
        # Razorpay's own answer, not the event body, decides (status, amount, order id); captures if authorized.
        confirmed = await checkout.confirm_payment(uow, gateway, session, payment_id)
        order = await checkout.complete_paid_checkout(uow, gateway, ACTOR, session.id, confirmed)
    except PaymentGatewayUnavailable:
        raise
    except _SETTLED_REFUSALS as refusal:
        log.info("webhook checkout %s refused (%s): the payment is refunded", session.id, refusal.code)
        return Outcome(WebhookStatus.PROCESSED)
    except DomainError as error:
        return Outcome(WebhookStatus.IGNORED, _describe(error))
    log.info("webhook %s completed checkout %s as order %s", event_type, session.id, order.id)
    return Outcome(WebhookStatus.PROCESSED)


async def _payment_failed(
    uow: UnitOfWork, gateway: PaymentGateway, event_type: str, payload: dict[str, Any]
) -> Outcome:
    """Recorded only: the customer may pay again on the same order, and a captured payment stands."""
    payment = _entity(payload, "payment")
    payment_id = _text(payment, "id")
    order_id = payment.get("order_id")
    session = await _session_for(uow, order_id) if isinstance(order_id, str) and order_id else None
    if session is None:
        return Outcome(WebhookStatus.IGNORED, f"no checkout for Razorpay order {order_id}")
    known = await _payment_status(uow, payment_id)
    async with uow:
        await audit.record(
            uow,
            ACTOR,
            "payment.failed",
            "CheckoutSession",
            session.id,
            {
                "razorpayPaymentId": payment_id,
                "errorCode": payment.get("error_code"),
                "errorDescription": payment.get("error_description"),
                # Out of order after a capture of the same payment: kept as recorded, never un-paid.
                "recordedPaymentStatus": known,
            },
        )
        await uow.commit()
    return Outcome(WebhookStatus.PROCESSED)


async def _refund_settled(
    uow: UnitOfWork, gateway: PaymentGateway, event_type: str, payload: dict[str, Any]
) -> Outcome:
    """Settle the outbox row of this refund; idempotent once it is settled."""
    entity = _entity(payload, "refund")
    razorpay_refund_id = _text(entity, "id")
    razorpay_payment_id = _text(entity, "payment_id")
    amount = entity.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise _Malformed("refund.amount is not an integer")
    processed = event_type == "refund.processed"

    async def work(uow: UnitOfWork) -> Outcome:
        s = uow.session
        by_id = select(Refund).where(Refund.razorpay_refund_id == razorpay_refund_id).with_for_update()
        # Lock order shared with the outbox: the refund row, then (in mark_processed) its payment.
        refund = await s.scalar(by_id)
        if refund is None:
            refund = await _unrecorded_refund(uow, razorpay_payment_id, amount)
            if refund is not None:
                # Our refund reached Razorpay but its answer never reached the outbox: this event names it.
                refund.razorpay_refund_id = razorpay_refund_id
            else:
                # The outbox may have recorded the id while we waited on its row lock: look again.
                refund = await s.scalar(by_id)
        if refund is None:
            await uow.commit()
            return Outcome(WebhookStatus.IGNORED, f"no refund of ours is {razorpay_refund_id}")
        if refund.status != RefundStatus.PENDING.value:
            await uow.commit()
            return Outcome(WebhookStatus.PROCESSED)
        if processed:
            await refunds.mark_processed(uow, refund)
        else:
            refund.status = RefundStatus.FAILED.value
            refund.last_error = "Razorpay reported the refund as failed"
            await audit.record(
                uow,
                ACTOR,
                "refund.failed",
                "Refund",
                refund.id,
                {"razorpayRefundId": razorpay_refund_id},
            )
        await uow.commit()
        return Outcome(WebhookStatus.PROCESSED)

    return await uow.run(work)


async def _unrecorded_refund(uow: UnitOfWork, razorpay_payment_id: str, amount: int) -> Refund | None:
    """A PENDING outbox row of this payment and amount that does not know its Razorpay id yet.

    The outbox commits its row before it calls Razorpay, so an event about one of our
    refunds always finds that row; no row means the refund was made elsewhere (the dashboard).
    """
    s = uow.session
    payment_pk = await s.scalar(select(Payment.id).where(Payment.razorpay_payment_id == razorpay_payment_id))
    if payment_pk is None:
        return None
    candidates = list(
        (
            await s.scalars(
                select(Refund)
                .where(
                    Refund.payment_id == payment_pk,
                    Refund.status == RefundStatus.PENDING.value,
                    Refund.razorpay_refund_id.is_(None),
                    Refund.amount == amount,
                )
                .order_by(Refund.id)
                .with_for_update()
            )
        ).all()
    )
    if len(candidates) > 1:
        # Two refunds of one amount: only the outbox, which knows which answer is whose, can tell.
        raise _NotYet(
            f"{len(candidates)} pending refunds of {amount} on {razorpay_payment_id}; "
            "retry once the outbox has recorded their Razorpay ids"
        )
    return candidates[0] if candidates else None


_HANDLERS: dict[str, _Handler] = {
    "payment.authorized": _complete_checkout,
    "payment.captured": _complete_checkout,
    "order.paid": _complete_checkout,
    "payment.failed": _payment_failed,
    "refund.processed": _refund_settled,
    "refund.failed": _refund_settled,
}
HANDLED_TYPES = frozenset(_HANDLERS)


# --- retrying -------------------------------------------------------------------------------


async def retry_failed(
    uow_factory: Callable[[], UnitOfWork],
    gateway: PaymentGateway,
    *,
    limit: int = 1000,
    max_attempts: int | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> RetryResult:
    """Handle again the FAILED events, and the RECEIVED ones nobody handled; oldest first."""
    stale = datetime.now(UTC) - stale_after
    query = select(WebhookEvent).where(
        or_(
            WebhookEvent.status == WebhookStatus.FAILED.value,
            and_(WebhookEvent.status == WebhookStatus.RECEIVED.value, WebhookEvent.received_at < stale),
        )
    )
    if max_attempts is not None:
        query = query.where(WebhookEvent.attempts < max_attempts)
    async with uow_factory() as uow:
        events = list((await uow.session.scalars(query.order_by(WebhookEvent.id).limit(limit))).all())
    succeeded = 0
    for event in events:
        status = await handle_event(uow_factory(), gateway, event)
        succeeded += status in FINAL
    return RetryResult(attempted=len(events), succeeded=succeeded, failed=len(events) - succeeded)


__all__ = [
    "HANDLED_TYPES",
    "Outcome",
    "RetryResult",
    "handle_event",
    "record_failure",
    "retry_failed",
    "store_event",
]
