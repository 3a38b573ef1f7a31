"""Payment confirmation: the signature Razorpay Checkout issued, then Razorpay's own word on the
payment (fetched, or captured), before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime

from kapda_gql.checkout import compensation, store
from kapda_gql.checkout.address import PaymentProof
from kapda_gql.db.models import CheckoutSession
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.errors import (
    CheckoutExpired,
    PaymentAmountMismatch,
    PaymentGatewayRejected,
    PaymentNotCaptured,
    PaymentVerificationFailed,
)
from kapda_gql.payments.gateway import GatewayPayment, PaymentGateway

PAYABLE = frozenset({"authorized", "captured"})


def verified(gateway: PaymentGateway, session: CheckoutSession, proof: PaymentProof) -> bool:
    # Against the order id WE stored, never the one the client sent.
    return session.razorpay_order_id is not None and gateway.verify_payment_signature(
        order_id=session.razorpay_order_id,
        payment_id=proof.razorpay_payment_id,
        signature=proof.razorpay_signature,
    )


def paid_too_late(session: CheckoutSession, payment: GatewayPayment) -> bool:
    """Judged by when the customer paid: a webhook retried for hours after an outage of ours
    must not refund a payment that was made while the quote still held."""
    paid_at = datetime.fromtimestamp(payment.created_at, UTC) if payment.created_at else datetime.now(UTC)
    return paid_at > session.expires_at


def pays_exactly(session: CheckoutSession, payment: GatewayPayment) -> bool:
    """A captured payment of this session's Razorpay order, of exactly its amount and currency."""
    return (
        payment.status == "captured"
        and payment.order_id == session.razorpay_order_id
        and payment.amount == session.amount
        and payment.currency == session.currency
    )


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
        if captured is not None and pays_exactly(session, captured):
            return captured
    payment = await gateway.fetch_payment(payment_id)
    if payment.order_id != session.razorpay_order_id:
        raise PaymentVerificationFailed("The payment does not belong to this checkout")
    if payment.status not in PAYABLE:
        raise PaymentNotCaptured(paymentStatus=payment.status.upper())
    if payment.amount != session.amount or payment.currency != session.currency:
        if payment.status == "captured":
            await compensation.refund_stray_payment(uow, gateway, session, payment, "amount_mismatch")
        raise PaymentAmountMismatch(
            expected={"amount": session.amount, "currency": session.currency},
            paid={"amount": payment.amount, "currency": payment.currency},
        )
    if paid_too_late(session, payment) and await _order_of_session(uow, session) is None:
        if payment.status == "captured":
            await compensation.refund_stray_payment(uow, gateway, session, payment, "checkout_expired")
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


async def _order_of_session(uow: UnitOfWork, session: CheckoutSession) -> object | None:
    async with uow.lean(read=True) as tx:
        return await store.order_of_session(tx, session.id)
