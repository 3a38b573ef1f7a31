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
- ``refund.processed`` / ``refund.failed`` settle the refund outbox row, on Razorpay's answer:
  the refund is fetched from Razorpay first, and a refund Razorpay never issued changes nothing
  (a signed body is proof of who sent it, not that what it says is so).

A handler failure is recorded on the event (FAILED, attempts, last_error) and
``retry_failed`` (``kapda-gql webhooks retry``) handles those events again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kapda_gql.checkout import services as checkout
from kapda_gql.checkout.results import OutOfStock, Placed
from kapda_gql.core import audit
from kapda_gql.db.models import WebhookEvent
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.enums import RefundStatus, WebhookStatus
from kapda_gql.domain.errors import (
    CheckoutExpired,
    DomainError,
    InsufficientStock,
    PaymentAmountMismatch,
    PaymentGatewayRejected,
    PaymentGatewayUnavailable,
)
from kapda_gql.domain.policy import Actor
from kapda_gql.payments import refunds, store
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
    async with uow.lean(read=True) as tx:
        return await store.store_event(tx, event_id, event_type, payload)


# --- handling -------------------------------------------------------------------------------


async def handle_event(uow: UnitOfWork, gateway: PaymentGateway, event: WebhookEvent) -> str:
    """Handle one stored event and record the outcome on it; never raises for a handler failure."""
    async with uow.lean(read=True) as tx:
        current = await store.event_status(tx, event.id)
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
            if isinstance(error, PaymentGatewayUnavailable | refunds.AmbiguousRefund | _NotYet):
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
    failed = outcome.status is WebhookStatus.FAILED
    async with uow.lean(read=True) as tx:
        await store.finish_event(
            tx,
            event_pk,
            outcome.status,
            outcome.note[:2000] if outcome.note else None,
            None if failed else datetime.now(UTC),
            # A concurrent handling of the same event (the retry command, say) may have settled it: keep that.
            keep=FINAL if failed else frozenset(),
        )


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


async def _payment_status(uow: UnitOfWork, razorpay_payment_id: str) -> str | None:
    async with uow.lean(read=True) as tx:
        return await store.recorded_payment_status(tx, razorpay_payment_id)


async def _complete_checkout(
    uow: UnitOfWork, gateway: PaymentGateway, event_type: str, payload: dict[str, Any]
) -> Outcome:
    """The customer paid (and perhaps closed the tab): make the order the mutation would have made."""
    payment = _entity(payload, "payment")
    payment_id = _text(payment, "id")
    order_id = payment.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        return Outcome(WebhookStatus.IGNORED, "the payment is not for a Razorpay order")
    session = await checkout.session_of_razorpay_order(uow, order_id)
    if session is None:
        return Outcome(WebhookStatus.IGNORED, f"no checkout for Razorpay order {order_id}")
    if await _payment_status(uow, payment_id) is not None:
        # Already made an order or was refunded, by the mutation or an earlier event.
        return Outcome(WebhookStatus.PROCESSED)
    try:
        # Razorpay's own answer, not the event body, decides (status, amount, order id); captures if authorized.
        result = await checkout.settle_payment(uow, gateway, ACTOR, session, payment_id)
    except PaymentGatewayUnavailable:
        raise
    except _SETTLED_REFUSALS as refusal:
        return _refused(session.id, refusal)
    except DomainError as error:
        return Outcome(WebhookStatus.IGNORED, _describe(error))
    if isinstance(result, OutOfStock):
        return _refused(session.id, result.error())
    order = result.order if isinstance(result, Placed) else result.outcome
    if isinstance(order, DomainError):
        # Closed elsewhere, failed: this payment was refunded by completion if it was not yet.
        if isinstance(order, _SETTLED_REFUSALS):
            return _refused(session.id, order)
        return Outcome(WebhookStatus.IGNORED, _describe(order))
    log.info("webhook %s completed checkout %s as order %s", event_type, session.id, order.id)
    return Outcome(WebhookStatus.PROCESSED)


def _refused(session_id: object, refusal: DomainError) -> Outcome:
    """Checkout refused the payment and refunded it: the event did what it could."""
    log.info("webhook checkout %s refused (%s): the payment is refunded", session_id, refusal.code)
    return Outcome(WebhookStatus.PROCESSED)


async def _payment_failed(
    uow: UnitOfWork, gateway: PaymentGateway, event_type: str, payload: dict[str, Any]
) -> Outcome:
    """Recorded only: the customer may pay again on the same order, and a captured payment stands."""
    payment = _entity(payload, "payment")
    payment_id = _text(payment, "id")
    order_id = payment.get("order_id")
    session = (
        await checkout.session_of_razorpay_order(uow, order_id)
        if isinstance(order_id, str) and order_id
        else None
    )
    if session is None:
        return Outcome(WebhookStatus.IGNORED, f"no checkout for Razorpay order {order_id}")
    known = await _payment_status(uow, payment_id)
    async with uow.lean(read=True) as tx:
        await audit.record(
            tx,
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
    return Outcome(WebhookStatus.PROCESSED)


async def _refund_settled(
    uow: UnitOfWork, gateway: PaymentGateway, event_type: str, payload: dict[str, Any]
) -> Outcome:
    """Settle the outbox row of this refund on Razorpay's answer; idempotent once it is settled.

    The body only names the refund: whether it exists, which payment it refunds, how much, and
    whether it went through is what Razorpay answers when asked.
    """
    razorpay_refund_id = _text(_entity(payload, "refund"), "id")
    try:
        result = await gateway.fetch_refund(razorpay_refund_id)
    except ValueError:
        raise _Malformed(f"refund.id {razorpay_refund_id!r} is not a Razorpay refund id") from None
    except PaymentGatewayRejected as error:
        return Outcome(WebhookStatus.IGNORED, f"Razorpay has no refund {razorpay_refund_id}: {error.message}")
    reported = await refunds.settle_reported(uow, result, ACTOR)
    if reported.status is None:
        return Outcome(WebhookStatus.IGNORED, f"no refund of ours is {razorpay_refund_id}")
    if reported.status == RefundStatus.PENDING.value:
        # Razorpay has not settled it yet, whatever the event said: the outbox polls it meanwhile.
        raise _NotYet(f"Razorpay reports refund {razorpay_refund_id} as {result.status}")
    return Outcome(WebhookStatus.PROCESSED)


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
    async with uow_factory().lean(read=True) as tx:
        events = await store.retryable_events(tx, stale=stale, max_attempts=max_attempts, limit=limit)
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
