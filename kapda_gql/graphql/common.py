"""Shared GraphQL types: Money, page info, ID parsing, enums mirrored from the domain."""

from __future__ import annotations

import functools
from typing import Any, NewType

import strawberry
from graphql import IntValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

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

# GraphQL's Int is 32 bits: a large order, an admin's totals or a designer's lifetime sales pass
# it, so money in answers (and aggregates that can grow as large) is a 64-bit Long.
Long = NewType("Long", int)
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _long(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not LONG_MIN <= value <= LONG_MAX:
        raise ValueError(f"Long cannot represent {value!r}: a 64-bit integer is expected")
    return value


def _long_literal(node: ValueNode, _variables: Any = None) -> int:
    if not isinstance(node, IntValueNode):
        raise ValueError("Long cannot represent a non-integer literal")
    return _long(int(node.value))


LONG_SCALAR = ScalarDefinition(
    name="Long",
    description="A 64-bit integer, sent as a JSON number (exact up to 2^53).",
    specified_by_url=None,
    serialize=_long,
    parse_value=_long,
    parse_literal=_long_literal,
)
SCALARS: dict[object, ScalarDefinition] = {Long: LONG_SCALAR}


@strawberry.type(description="An amount of money in minor units (paise for INR).")
class Money:
    amount: Long
    currency: str
    formatted: str

    @classmethod
    def of(cls, amount: int, currency: str = money.DEFAULT_CURRENCY) -> Money:
        return _money(amount, currency)


@functools.lru_cache(maxsize=8192)
def _money(amount: int, currency: str) -> Money:
    # Shared instances: a page shows the same few prices many times, and nothing mutates them.
    value = money.Money(amount, currency)
    return Money(amount=Long(value.amount), currency=value.currency, formatted=value.formatted)


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
