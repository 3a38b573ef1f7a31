"""What completing a paid checkout did, as values (``completion.complete`` returns one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapda_gql.checkout.quote import insufficient
from kapda_gql.db.models import Order, OrderItem, OrderStatusChange
from kapda_gql.domain.errors import DomainError


@dataclass(frozen=True, slots=True)
class Placed:
    """This call made the order: its lines and first history row exactly as it wrote them."""

    order: Order
    items: list[OrderItem]
    history: list[OrderStatusChange]


@dataclass(frozen=True, slots=True)
class ClosedElsewhere:
    """Someone else (a racing request, a webhook) closed the session first: how it ended."""

    outcome: Order | DomainError


@dataclass(frozen=True, slots=True)
class OutOfStock:
    """The stock did not cover these lines (INSUFFICIENT_STOCK's ``lines``); no order was made."""

    short: list[dict[str, Any]]

    def error(self) -> DomainError:
        return insufficient(self.short)


Completion = Placed | ClosedElsewhere | OutOfStock


def answer(number: str) -> dict[str, Any]:
    """What an idempotency key of checkout keeps: the order's number, known before the order's id,
    so the answer can be written by the statement that places the order."""
    return {"orderNumber": number}


def order_or_raise(result: Completion) -> Order:
    """The order a completion ended with, or the domain error it ended with, raised."""
    if isinstance(result, Placed):
        return result.order
    if isinstance(result, OutOfStock):
        raise result.error()
    if isinstance(result.outcome, DomainError):
        raise result.outcome
    return result.outcome
