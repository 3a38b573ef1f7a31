"""The one money type: integer minor units (paise) plus an ISO currency code."""

from __future__ import annotations

from dataclasses import dataclass

from kapda_gql.domain.errors import BadUserInput

DEFAULT_CURRENCY = "INR"
_SYMBOLS = {"INR": "₹"}
# ₹2,00,00,000 in paise: far past any real basket, and below GraphQL's 32-bit Int and Razorpay's
# order limits, so a cart that could never be paid is refused before anything is asked of Razorpay.
MAX_CART_TOTAL = 2 * 10**9


@dataclass(frozen=True, slots=True, order=True)
class Money:
    amount: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        # bool is an int subclass; a float here would be a bug upstream.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money amount must be int paise, got {type(self.amount).__name__}")

    def share(self, basis_points: int) -> Money:
        """``basis_points``/10000 of this amount, rounded half up to the paisa."""
        return Money((self.amount * basis_points + 5000) // 10000, self.currency)

    @property
    def formatted(self) -> str:
        """Indian digit grouping for INR (₹1,29,999.00), Western grouping otherwise."""
        sign = "-" if self.amount < 0 else ""
        major, minor = divmod(abs(self.amount), 100)
        digits = str(major)
        if self.currency == "INR" and len(digits) > 3:
            head, tail = digits[:-3], digits[-3:]
            groups: list[str] = []
            while len(head) > 2:
                groups.insert(0, head[-2:])
                head = head[:-2]
            if head:
                groups.insert(0, head)
            digits = ",".join([*groups, tail])
        else:
            digits = f"{major:,}"
        symbol = _SYMBOLS.get(self.currency, self.currency + " ")
        return f"{sign}{symbol}{digits}.{minor:02d}"


def check_cart_total(total: int, field: str) -> None:
    """A cart (or the checkout made from it) may not pass MAX_CART_TOTAL: BAD_USER_INPUT on ``field``."""
    if total > MAX_CART_TOTAL:
        limit = Money(MAX_CART_TOTAL).formatted
        raise BadUserInput(
            field, f"the cart total would be {Money(total).formatted}; at most {limit} is allowed"
        )
