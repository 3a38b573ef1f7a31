"""Shared GraphQL types: Money, page info, ID parsing, enums mirrored from the domain."""

from __future__ import annotations

import functools
from typing import Any

import strawberry

from kapda_gql.core.pagination import Page
from kapda_gql.domain import enums, money
from kapda_gql.domain.errors import BadUserInput

# The domain enums are the GraphQL enums: registered once here, used by name everywhere.
for _enum in (enums.Role, enums.UserStatus, enums.ProductStatus, enums.OrderStatus, enums.PaymentStatus):
    strawberry.enum(_enum, name=_enum.__name__)
Role = enums.Role
UserStatus = enums.UserStatus
ProductStatus = enums.ProductStatus
OrderStatus = enums.OrderStatus
PaymentStatus = enums.PaymentStatus

MAX_ID = 2**63 - 1


@strawberry.type(description="An amount of money in minor units (paise for INR).")
class Money:
    amount: int
    currency: str
    formatted: str

    @classmethod
    def of(cls, amount: int, currency: str = money.DEFAULT_CURRENCY) -> Money:
        return _money(amount, currency)


@functools.lru_cache(maxsize=8192)
def _money(amount: int, currency: str) -> Money:
    # Shared instances: a page shows the same few prices many times, and nothing mutates them.
    value = money.Money(amount, currency)
    return Money(amount=value.amount, currency=value.currency, formatted=value.formatted)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        )


def parse_id(value: strawberry.ID | str, field: str) -> int:
    """IDs are opaque strings to clients; a malformed one is BAD_USER_INPUT, not a 500."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise BadUserInput(field, "is not a valid id")
    return int(text)


def parse_optional_id(value: strawberry.ID | None, field: str) -> int | None:
    return None if value is None else parse_id(value, field)
