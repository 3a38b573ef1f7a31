"""What a line costs: the effective price of a variant, the price charged, the commission share.

Every price is integer paise (see ``money``). These are the only places the rules are written;
the cart, the checkout quote and the order statement all ask here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kapda_gql.domain.money import Money

# A price that moved by more than this (in basis points of the remembered price) between the
# cart and the checkout is logged and audited.
PRICE_ALERT_BPS = 1000


def effective_price(variant_price: int | None, product_price: int) -> int:
    """A variant's own price overrides its product's."""
    return variant_price if variant_price is not None else product_price


# How long a cart line's remembered price holds (KAPDA_CART_PRICE_TTL_SECONDS overrides it).
CART_PRICE_TTL_SECONDS = 7 * 24 * 3600


def remembered_price(
    remembered: int, current: int, *, remembered_at: datetime, now: datetime, ttl_seconds: int
) -> int:
    """The price a cart line still remembers: its own until it lapses, today's after that.

    A remembered price protects a customer from a rise between putting units in the cart and
    paying for them; it is not a coupon to keep for ever.
    """
    if now - remembered_at >= timedelta(seconds=ttl_seconds):
        return current
    return remembered


def reprices_line(old_quantity: int | None, new_quantity: int) -> bool:
    """Whether a change of a line's quantity prices it afresh at today's price.

    A new line, or one whose quantity goes up: the whole line is priced again (a line has one
    unit price), so a price remembered during a sale never covers units added after it. Lowering
    the quantity keeps the remembered price: those units were put in at it.
    """
    return old_quantity is None or new_quantity > old_quantity


def charged_price(remembered: int, current: int) -> int:
    """What the customer pays per unit: the lower of the price remembered in the cart and today's.

    A price drop reaches the customer at once; a rise never surprises them at checkout.
    """
    return min(remembered, current)


def line_total(unit_price: int, quantity: int) -> int:
    return unit_price * quantity


def commission(line_total: int, rate_bps: int) -> int:
    """The shop's commission on one order line: ``rate_bps`` of its total, rounded half up per line."""
    return Money(line_total).share(rate_bps).amount


def is_price_alert(remembered: int, current: int) -> bool:
    """True when the price moved by more than PRICE_ALERT_BPS of the remembered one (either way)."""
    return abs(current - remembered) * 10000 > PRICE_ALERT_BPS * remembered


def commission_reversal(*, amount: int, unit_price: int, open_units: int, rate_bps: int) -> int:
    """How much of a line's commission ``amount`` is taken back once only ``open_units`` remain.

    What stays is the commission on the units still open, worked out as on a line of that many
    units: once none is open all of it is reversed, and the parts never add up to more.
    """
    keeps = commission(line_total(unit_price, open_units), rate_bps)
    return min(amount, max(0, amount - keeps))
