"""The stock ledger's rules: why stock moves, and which way each reason may move it.

The convention (the one definition; kapda_gql/stock and the database's CHECK follow it):

- ``delta`` is the change of **on-hand** units (``Variant.stock + held``: units in the warehouse
  that are not sold). So for every variant at every moment, on hand = the sum of its deltas, and
  ``stock_after`` is that running sum after the movement.
- ``held_delta`` is the change of **held** units (bound to a checkout session). A hold or its
  release moves units between sellable and held: on hand does not change (``delta`` 0), the
  held units do. A hold that lapsed but was not swept yet is still recorded as held in the
  ledger (no movement happened); it ends with its ``RELEASE`` (the sweep, a cancel, a new session)
  or its ``SALE``. Readers that show ``Variant.stock``/``held`` treat a lapsed hold as sellable;
  the ledger's on-hand sum is the same either way, which is why on hand is what it proves.
- a ``SALE`` takes units off hand: from the session's hold (``held_delta`` = ``delta``) or, when
  nothing was held (holds off, or the hold lapsed and was released), from sellable stock
  (``held_delta`` 0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StockReason(enum.StrEnum):
    INITIAL = "INITIAL"  # a variant made with its first stock (createProduct, a new variant)
    SET = "SET"  # setStock: the difference to what was there, with the designer's note
    HOLD = "HOLD"  # startCheckout holds units for its session
    RELEASE = "RELEASE"  # a hold given back (cancelCheckout, a new session, expiry's sweep)
    SALE = "SALE"  # an order placed: units leave the shelf
    CANCEL_RESTOCK = "CANCEL_RESTOCK"  # a cancelled order's (or line's) units back on the shelf
    RETURN_RESTOCK = "RETURN_RESTOCK"  # returned units back on the shelf


@dataclass(frozen=True, slots=True)
class Sign:
    """What a reason allows: the sign of ``delta`` and of ``held_delta`` (-1, 0, 1; None = any)."""

    delta: frozenset[int]
    held: frozenset[int]


_ZERO = frozenset({0})
_NEG = frozenset({-1})
_POS = frozenset({1})

RULES: dict[StockReason, Sign] = {
    StockReason.INITIAL: Sign(frozenset({0, 1}), _ZERO),
    StockReason.SET: Sign(frozenset({-1, 0, 1}), _ZERO),
    StockReason.HOLD: Sign(_ZERO, _POS),
    StockReason.RELEASE: Sign(_ZERO, _NEG),
    StockReason.SALE: Sign(_NEG, frozenset({-1, 0})),
    StockReason.CANCEL_RESTOCK: Sign(_POS, _ZERO),
    StockReason.RETURN_RESTOCK: Sign(_POS, _ZERO),
}


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


class BadMovement(ValueError):
    """A movement its reason does not allow (a programming error, never a user's)."""


def check(reason: StockReason, delta: int, held_delta: int = 0) -> None:
    """Raises ``BadMovement`` unless ``reason`` allows these deltas (see the module docstring)."""
    rule = RULES[reason]
    if _sign(delta) not in rule.delta or _sign(held_delta) not in rule.held:
        raise BadMovement(f"{reason.value} cannot move on hand by {delta} and held by {held_delta}")
    if reason is StockReason.SALE and held_delta not in (0, delta):
        raise BadMovement("a SALE takes either all or none of its units from a hold")


def _condition(column: str, signs: frozenset[int]) -> str:
    if signs == frozenset({-1, 0, 1}):
        return "true"
    return " OR ".join(
        {-1: f"{column} < 0", 0: f"{column} = 0", 1: f"{column} > 0"}[s] for s in sorted(signs)
    )


def check_sql() -> str:
    """The same rules as one CHECK constraint's condition on ``stock_movements``."""
    cases = " ".join(
        f"WHEN '{reason.value}' THEN ({_condition('delta', rule.delta)}) AND ({_condition('held_delta', rule.held)})"
        for reason, rule in RULES.items()
    )
    sale = "(reason <> 'SALE' OR held_delta IN (0, delta))"
    return f"(CASE reason {cases} ELSE false END) AND {sale}"
