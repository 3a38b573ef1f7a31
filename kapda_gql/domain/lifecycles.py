"""Every lifecycle as data: which state may follow which, and what a move entails.

Services look a move up here and carry out what it says; nothing else knows the tables. A move
that is not in a table raises ``InvalidTransition`` through ``Lifecycle.check``, which is the one
place that error is built (with ``from``, ``to`` and the ``allowed`` moves) — besides
``check_line_change``, its counterpart for changes of an order's lines, which move no status of
their own (``from`` and the statuses ``allowed``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from kapda_gql.domain.enums import (
    CheckoutStatus,
    CommissionStatus,
    OrderStatus,
    PaymentStatus,
    ProductStatus,
    RefundStatus,
)
from kapda_gql.domain.errors import InvalidTransition
from kapda_gql.domain.ledger import StockReason

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S]):
    """A state machine: ``moves[state]`` lists the states that may follow, in display order."""

    subject: str  # how a message names one ("An order")
    moves: Mapping[S, tuple[S, ...]]

    def allowed(self, current: S, *, within: Collection[S] | None = None) -> tuple[S, ...]:
        """The states that may follow ``current``; ``within`` narrows them to what a caller may do."""
        return tuple(s for s in self.moves[current] if within is None or s in within)

    def can(self, current: S, target: S) -> bool:
        return target in self.moves[current]

    def check(
        self, current: S, target: S, *, within: Collection[S] | None = None, message: str | None = None
    ) -> None:
        """Raise InvalidTransition unless ``current → target`` is a move (within ``within``, if given)."""
        allowed = self.allowed(current, within=within)
        if target not in allowed:
            raise InvalidTransition(
                message or f"{self.subject} that is {current.value} cannot become {target.value}",
                **{"from": current.value, "to": target.value},
                allowed=[s.value for s in allowed],
            )

    @property
    def terminal(self) -> frozenset[S]:
        return frozenset(s for s, nxt in self.moves.items() if not nxt)


# --- products --------------------------------------------------------------------------------

PRODUCT: Lifecycle[ProductStatus] = Lifecycle(
    "A product",
    {
        ProductStatus.DRAFT: (ProductStatus.PENDING_REVIEW,),
        ProductStatus.REJECTED: (ProductStatus.PENDING_REVIEW,),
        ProductStatus.PENDING_REVIEW: (ProductStatus.APPROVED, ProductStatus.REJECTED),
        # An admin may take an approved product down again.
        ProductStatus.APPROVED: (ProductStatus.REJECTED,),
    },
)
# What a designer's submitProduct does, and what an admin's reviewProduct may decide.
PRODUCT_SUBMIT_TARGETS = frozenset({ProductStatus.PENDING_REVIEW})
PRODUCT_REVIEW_TARGETS = frozenset({ProductStatus.APPROVED, ProductStatus.REJECTED})
SUBMITTABLE = frozenset(s for s in ProductStatus if PRODUCT.can(s, ProductStatus.PENDING_REVIEW))


def check_submit(current: ProductStatus) -> None:
    PRODUCT.check(
        current,
        ProductStatus.PENDING_REVIEW,
        message=f"A {current.value} product cannot be submitted for review",
    )


def check_review(current: ProductStatus, target: ProductStatus) -> None:
    verb = "approved" if target is ProductStatus.APPROVED else "rejected"
    PRODUCT.check(
        current, target, within=PRODUCT_REVIEW_TARGETS, message=f"A {current.value} product cannot be {verb}"
    )


# --- checkout sessions -----------------------------------------------------------------------

CHECKOUT: Lifecycle[CheckoutStatus] = Lifecycle(
    "A checkout session",
    {
        CheckoutStatus.OPEN: (CheckoutStatus.COMPLETED, CheckoutStatus.FAILED),
        CheckoutStatus.COMPLETED: (),
        CheckoutStatus.FAILED: (),
    },
)

# --- refunds ---------------------------------------------------------------------------------

REFUND: Lifecycle[RefundStatus] = Lifecycle(
    "A refund",
    {
        RefundStatus.PENDING: (RefundStatus.PROCESSED, RefundStatus.FAILED),
        RefundStatus.PROCESSED: (),
        RefundStatus.FAILED: (),
    },
)
# The payment's (and its order's) status while a refund is asked for and not yet confirmed.
PAYMENT_WHILE_REFUNDING = PaymentStatus.REFUND_PENDING
# Payments that still hold money a refund could give back (one with a refund on its way may
# still hold more than that refund).
PAID = frozenset({PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUND_PENDING})


def refundable(captured: int, requested: int) -> int:
    """What is left to refund of a capture, given the refunds already asked for (not failed)."""
    return max(0, captured - requested)


def payment_status_after_refund(*, captured: int, refunded: int, others_pending: int) -> PaymentStatus:
    """A payment's status once one of its refunds is confirmed: still REFUND_PENDING while another
    is on its way, REFUNDED when all of it is back, PARTIALLY_REFUNDED while only part is."""
    if others_pending:
        return PAYMENT_WHILE_REFUNDING
    return PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED


# --- orders ----------------------------------------------------------------------------------

ORDER: Lifecycle[OrderStatus] = Lifecycle(
    "An order",
    {
        OrderStatus.PENDING: (OrderStatus.PROCESSING, OrderStatus.CANCELED),
        OrderStatus.PROCESSING: (OrderStatus.SHIPPED, OrderStatus.CANCELED),
        OrderStatus.SHIPPED: (OrderStatus.DELIVERED, OrderStatus.CANCELED),
        OrderStatus.DELIVERED: (OrderStatus.REFUNDED,),
        OrderStatus.CANCELED: (),
        OrderStatus.REFUNDED: (),
    },
)
# The order column stamped when an order reaches each status. REFUNDED stamps none: refunded_at is
# when the last refund was confirmed at Razorpay (the contract), which the refund outbox writes
# (payments/refunds.py), not when the order became REFUNDED with its refund still on its way.
ORDER_TIMESTAMP = {
    OrderStatus.PROCESSING: "processing_at",
    OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.DELIVERED: "delivered_at",
    OrderStatus.CANCELED: "canceled_at",
}
# Canceled before it left the warehouse: its units go back on the shelf.
RESTOCK_FROM = frozenset({OrderStatus.PENDING, OrderStatus.PROCESSING})
# Statuses whose sales no longer count (designer stats leave them out).
NOT_LIVE = frozenset({OrderStatus.CANCELED, OrderStatus.REFUNDED})
_REFUND_ON = frozenset({OrderStatus.CANCELED, OrderStatus.REFUNDED})
_COMMISSION_AFTER = {
    OrderStatus.DELIVERED: CommissionStatus.EARNED,
    OrderStatus.CANCELED: CommissionStatus.REVERSED,
    OrderStatus.REFUNDED: CommissionStatus.REVERSED,
}
# Earned on delivery from pending; a refund after delivery takes back what was earned too.
_COMMISSION_FROM = {
    CommissionStatus.EARNED: frozenset({CommissionStatus.PENDING}),
    CommissionStatus.REVERSED: frozenset({CommissionStatus.PENDING, CommissionStatus.EARNED}),
}
_ACTION = {OrderStatus.CANCELED: "order.cancelled", OrderStatus.REFUNDED: "order.refunded"}


@dataclass(frozen=True, slots=True)
class CommissionMove:
    to: CommissionStatus
    from_: frozenset[CommissionStatus]


@dataclass(frozen=True, slots=True)
class OrderStep:
    """What moving an order from one status to another entails, besides the status itself."""

    current: OrderStatus
    target: OrderStatus
    timestamp: str | None  # the column the move stamps, if any (ORDER_TIMESTAMP)
    restock: bool
    commission: CommissionMove | None
    refund_if_paid: bool
    audit_action: str


def order_step(current: OrderStatus, target: OrderStatus) -> OrderStep:
    """The side effects of a move the table allows (check it first with ``ORDER.check``)."""
    after = _COMMISSION_AFTER.get(target)
    return OrderStep(
        current=current,
        target=target,
        timestamp=ORDER_TIMESTAMP.get(target),
        restock=target is OrderStatus.CANCELED and current in RESTOCK_FROM,
        commission=CommissionMove(after, _COMMISSION_FROM[after]) if after is not None else None,
        refund_if_paid=target in _REFUND_ON,
        audit_action=_ACTION.get(target, "order.transitioned"),
    )


# --- part of an order: cancelling and returning lines ----------------------------------------


class LineChange(StrEnum):
    CANCEL = "CANCEL"
    RETURN = "RETURN"


@dataclass(frozen=True, slots=True)
class LineChangeRule:
    """Where a change of lines may happen, and what it does to the order."""

    from_: frozenset[OrderStatus]
    verb: str  # how a message says it ("canceled")
    closes_to: OrderStatus  # the order's status once no unit of it is open
    restock_reason: StockReason  # the stock movement of restocked units
    refund_reason: str  # the refund's reason
    audit_action: str


LINE_CHANGES: Mapping[LineChange, LineChangeRule] = {
    LineChange.CANCEL: LineChangeRule(
        from_=RESTOCK_FROM,
        verb="canceled",
        closes_to=OrderStatus.CANCELED,
        restock_reason=StockReason.CANCEL_RESTOCK,
        refund_reason="items_canceled",
        audit_action="order.items_canceled",
    ),
    LineChange.RETURN: LineChangeRule(
        from_=frozenset({OrderStatus.DELIVERED}),
        verb="returned",
        closes_to=OrderStatus.REFUNDED,
        restock_reason=StockReason.RETURN_RESTOCK,
        refund_reason="items_returned",
        audit_action="order.items_returned",
    ),
}


def check_line_change(change: LineChange, current: OrderStatus) -> None:
    """INVALID_TRANSITION unless lines of an order in ``current`` may be changed this way."""
    rule = LINE_CHANGES[change]
    if current not in rule.from_:
        allowed = [s.value for s in OrderStatus if s in rule.from_]
        raise InvalidTransition(
            f"Lines of an order that is {current.value} cannot be {rule.verb}"
            f" (only while it is {' or '.join(allowed)})",
            **{"from": current.value},
            allowed=allowed,
        )


def open_units(quantity: int, canceled: int, returned: int) -> int:
    """The units of a line that are neither cancelled nor returned."""
    return quantity - canceled - returned
