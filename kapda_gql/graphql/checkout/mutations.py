"""Checkout mutations: thin, arguments in, a service call, a type out."""

from __future__ import annotations

from typing import Any

import strawberry

from kapda_gql.checkout import services as checkout
from kapda_gql.domain.errors import DomainError
from kapda_gql.graphql.checkout.types import CheckoutInput, CheckoutSession, StartCheckoutInput
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.orders.types import Order, parse_uuid
from kapda_gql.observability import record_checkout


def _prime(info: Info) -> checkout.PlacedHook:
    """The new order's lines and history go straight into this request's loaders: no re-reading."""

    def prime(order: Any, items: list[Any], history: list[Any]) -> None:
        info.context.loaders.order_items.prime(order.id, items)
        info.context.loaders.status_history.prime(order.id, history)

    return prime


@strawberry.type
class CheckoutMutation:
    @strawberry.mutation(
        description="Price the cart on the server, freeze the quote and create the Razorpay order."
    )
    async def start_checkout(self, info: Info, input: StartCheckoutInput) -> CheckoutSession:
        a = input.shipping_address
        runtime = info.context.runtime
        session = await checkout.start_checkout(
            info.context.uow(),
            runtime.gateway,
            info.context.actor,
            address=checkout.Address(
                name=a.name,
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                state=a.state,
                postal_code=a.postal_code,
                country=a.country,
                phone=a.phone,
            ),
            idempotency_key=input.idempotency_key,
            ttl_seconds=runtime.settings.checkout_ttl_seconds,
            cart_price_ttl_seconds=runtime.settings.cart_price_ttl_seconds,
            holds=runtime.settings.stock_holds,
        )
        return CheckoutSession.of(session, runtime.gateway.key_id)

    @strawberry.mutation(
        description="End the caller's open checkout and give its held stock back now; false when it was no longer open."
    )
    async def cancel_checkout(self, info: Info, checkout_id: strawberry.ID) -> bool:
        return await checkout.cancel_checkout(
            info.context.uow(), info.context.actor, parse_uuid(checkout_id, "checkoutId")
        )

    @strawberry.mutation(description="Verify the Razorpay payment and turn it into exactly one order.")
    async def checkout(self, info: Info, input: CheckoutInput) -> Order:
        proof = checkout.PaymentProof(
            checkout_id=parse_uuid(input.checkout_id, "checkoutId"),
            razorpay_order_id=input.razorpay_order_id,
            razorpay_payment_id=input.razorpay_payment_id,
            razorpay_signature=input.razorpay_signature,
        )
        try:
            order = await checkout.checkout(
                info.context.uow(),
                info.context.runtime.gateway,
                info.context.actor,
                proof,
                idempotency_key=input.idempotency_key,
                on_placed=_prime(info),
            )
        except DomainError as error:
            record_checkout(error.code.lower())
            raise
        record_checkout("completed")
        return Order.of(order)
