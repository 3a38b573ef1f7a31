"""Input rules as plain functions: each returns the (field, message) pairs it finds wrong, or raises
``BadUserInput`` with all of them at once, so a client sees every mistake in one answer.

Field names are the API's (camelCase, with the input's path), because they are shown to clients.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.text import LINE_CONTROL_RE, TEXT_CONTROL_RE, has_control

Problems = list[tuple[str, str]]

CONTROL_MESSAGE = "must not contain control characters"

# --- accounts --------------------------------------------------------------------------------

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_EMAIL = 254
MIN_PASSWORD = 8
MAX_PASSWORD = 256
MAX_NAME = 200


def could_be_email(email: str) -> bool:
    """Whether an e-mail (stripped) could belong to an account at all: login skips the lookup if not."""
    return len(email) <= MAX_EMAIL and not LINE_CONTROL_RE.search(email)


def validate_account(email: str, password: str, name: str) -> tuple[str, str]:
    """The stripped e-mail and name of a new account, or BAD_USER_INPUT naming every bad field."""
    errors: Problems = []
    email = email.strip()
    name = name.strip()
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email) or LINE_CONTROL_RE.search(email):
        errors.append(("email", "is not a valid e-mail address"))
    if len(password) < MIN_PASSWORD:
        errors.append(("password", f"must be at least {MIN_PASSWORD} characters"))
    elif len(password) > MAX_PASSWORD:
        errors.append(("password", f"must be at most {MAX_PASSWORD} characters"))
    if not name:
        errors.append(("name", "is required"))
    elif len(name) > MAX_NAME:
        errors.append(("name", f"must be at most {MAX_NAME} characters"))
    elif LINE_CONTROL_RE.search(name):
        errors.append(("name", CONTROL_MESSAGE))
    if errors:
        raise BadUserInput(errors)
    return email, name


# --- addresses -------------------------------------------------------------------------------

PIN_RE = re.compile(r"^[1-9][0-9]{5}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{6,18}[0-9]$")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_ADDRESS_LIMITS = (("name", 200), ("line1", 200), ("city", 100), ("state", 100))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def validate_address(fields: Mapping[str, Any], prefix: str = "shippingAddress") -> dict[str, Any]:
    """A shipping address (snake_case keys) stripped and normalised, or BAD_USER_INPUT.

    Indian addresses need a 6-digit PIN code; the country is an ISO two-letter code.
    """
    errors: Problems = []
    clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    for field, limit in _ADDRESS_LIMITS:
        if not 0 < len(clean[field]) <= limit:
            errors.append((f"{prefix}.{field}", f"must be 1-{limit} characters"))
    errors.extend(
        (f"{prefix}.{_camel(k)}", CONTROL_MESSAGE)
        for k, v in clean.items()
        if isinstance(v, str) and has_control(v)
    )
    if clean.get("line2") is not None and len(clean["line2"]) > 200:
        errors.append((f"{prefix}.line2", "must be at most 200 characters"))
    country = clean["country"].upper()
    if not _COUNTRY_RE.fullmatch(country):
        errors.append((f"{prefix}.country", "must be a two-letter ISO country code"))
    elif country == "IN" and not PIN_RE.match(clean["postal_code"]):
        errors.append((f"{prefix}.postalCode", "must be a 6-digit Indian PIN code"))
    elif not 0 < len(clean["postal_code"]) <= 12:
        errors.append((f"{prefix}.postalCode", "must be 1-12 characters"))
    if not PHONE_RE.match(clean["phone"]):
        errors.append((f"{prefix}.phone", "must be a phone number of 8-15 digits"))
    if errors:
        raise BadUserInput(errors)
    clean["country"] = country
    clean["line2"] = clean.get("line2") or None
    return clean


# --- catalog ---------------------------------------------------------------------------------

SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
URL_RE = re.compile(r"^https?://\S{1,2000}$")
MAX_STOCK = 1_000_000
MAX_PRICE = 10_000_000_00  # ₹1 crore in paise: anything above is a typo, not a garment
MAX_IMAGES = 12


class VariantFields(Protocol):
    """What a new variant is given (the catalog's VariantSpec has these)."""

    @property
    def sku(self) -> str: ...
    @property
    def size(self) -> str | None: ...
    @property
    def color(self) -> str | None: ...
    @property
    def price(self) -> int | None: ...
    @property
    def stock(self) -> int: ...


def stock_problems(stock: int, field: str = "stock") -> Problems:
    return [] if 0 <= stock <= MAX_STOCK else [(field, f"must be between 0 and {MAX_STOCK}")]


MAX_NOTE = 500


def note_problems(note: str | None, field: str = "note") -> Problems:
    """A stock movement's note: optional, at most ``MAX_NOTE`` characters."""
    if note is None or len(note) <= MAX_NOTE:
        return []
    return [(field, f"must be at most {MAX_NOTE} characters")]


def price_problems(price: int | None, field: str = "price") -> Problems:
    if price is None or 0 <= price <= MAX_PRICE:
        return []
    return [(field, f"must be between 0 and {MAX_PRICE} paise")]


def variant_problems(variants: Sequence[VariantFields], prefix: str = "variants") -> Problems:
    """SKUs well-formed and not repeated within the input (case-insensitively), sane stock and price."""
    errors: Problems = []
    seen: set[str] = set()
    for i, v in enumerate(variants):
        where = f"{prefix}[{i}]"
        if not SKU_RE.match(v.sku):
            errors.append((f"{where}.sku", "must be 1-64 letters, digits, '.', '_' or '-'"))
        elif v.sku.lower() in seen:
            errors.append((f"{where}.sku", "is repeated"))
        seen.add(v.sku.lower())
        errors += stock_problems(v.stock, f"{where}.stock")
        errors += price_problems(v.price, f"{where}.price")
        for name, value in (("size", v.size), ("color", v.color)):
            if value is not None and not 0 < len(value.strip()) <= 32:
                errors.append((f"{where}.{name}", "must be 1-32 characters"))
            elif value is not None and LINE_CONTROL_RE.search(value):
                errors.append((f"{where}.{name}", CONTROL_MESSAGE))
    return errors


def product_field_problems(
    title: str | None,
    description: str | None,
    category: str | None,
    price: int | None,
    images: Sequence[str] | None,
) -> Problems:
    """A product's own fields; None means "not given" (an update leaves it as it is)."""
    errors: Problems = []
    if title is not None and not 0 < len(title.strip()) <= 200:
        errors.append(("title", "must be 1-200 characters"))
    elif title is not None and LINE_CONTROL_RE.search(title):
        errors.append(("title", CONTROL_MESSAGE))
    if description is not None and len(description) > 5000:
        errors.append(("description", "must be at most 5000 characters"))
    elif description is not None and TEXT_CONTROL_RE.search(description):
        errors.append(("description", CONTROL_MESSAGE))
    if category is not None and not 0 < len(category.strip()) <= 80:
        errors.append(("category", "must be 1-80 characters"))
    elif category is not None and LINE_CONTROL_RE.search(category):
        errors.append(("category", CONTROL_MESSAGE))
    errors += price_problems(price)
    if images is not None:
        if len(images) > MAX_IMAGES:
            errors.append(("images", f"at most {MAX_IMAGES} images"))
        errors.extend(
            (f"images[{i}]", "must be an http(s) URL")
            for i, u in enumerate(images)
            if not URL_RE.match(u) or LINE_CONTROL_RE.search(u)
        )
    return errors


# --- free text -------------------------------------------------------------------------------


def optional_note(value: str | None, field: str, *, limit: int = 1000) -> str | None:
    """A free-text note or reason: stripped, empty means none, at most ``limit`` characters."""
    value = (value or "").strip() or None
    if value is not None and len(value) > limit:
        raise BadUserInput(field, f"must be at most {limit} characters")
    if value is not None and TEXT_CONTROL_RE.search(value):
        raise BadUserInput(field, CONTROL_MESSAGE)
    return value


# --- cart ------------------------------------------------------------------------------------

MAX_LINE_QUANTITY = 100


def check_quantity(quantity: int, *, allow_zero: bool) -> None:
    """A cart line's quantity: 1..MAX_LINE_QUANTITY, or 0 where 0 means "remove"."""
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise BadUserInput("quantity", "must be at least 1" if not allow_zero else "must not be negative")
    if quantity > MAX_LINE_QUANTITY:
        raise BadUserInput("quantity", f"must be at most {MAX_LINE_QUANTITY} per item")


# --- part of an order ------------------------------------------------------------------------

MAX_CHANGED_LINES = 100


class LineQuantity(Protocol):
    """One line of a cancel or return: which order line, how many of its units."""

    @property
    def order_item_id(self) -> int: ...
    @property
    def quantity(self) -> int: ...


def line_change_problems(lines: Sequence[LineQuantity], open_by_line: Mapping[int, int]) -> Problems:
    """Each requested line is a line of the order, named once, for 1 up to its open units."""
    if not lines:
        return [("lines", "must name at least one line")]
    if len(lines) > MAX_CHANGED_LINES:
        return [("lines", f"at most {MAX_CHANGED_LINES} lines at once")]
    errors: Problems = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        open_units = open_by_line.get(line.order_item_id)
        if open_units is None:
            errors.append((f"{where}.orderItemId", "is not a line of this order"))
        elif line.order_item_id in seen:
            errors.append((f"{where}.orderItemId", "is named twice"))
        elif line.quantity < 1:
            errors.append((f"{where}.quantity", "must be at least 1"))
        elif line.quantity > open_units:
            errors.append((f"{where}.quantity", f"only {open_units} of this line's units are open"))
        seen.add(line.order_item_id)
    return errors


# --- tracking --------------------------------------------------------------------------------

MAX_CARRIER = 80
MAX_TRACKING_NUMBER = 64


def tracking_problems(carrier: str, number: str, url: str | None, prefix: str = "tracking") -> Problems:
    """A parcel's carrier and number (one line of text each) and, optionally, its http(s) page."""
    errors: Problems = []
    for name, value, limit in (("carrier", carrier, MAX_CARRIER), ("number", number, MAX_TRACKING_NUMBER)):
        if not 0 < len(value.strip()) <= limit:
            errors.append((f"{prefix}.{name}", f"must be 1-{limit} characters"))
        elif LINE_CONTROL_RE.search(value):
            errors.append((f"{prefix}.{name}", CONTROL_MESSAGE))
    if url is not None and (not URL_RE.match(url.strip()) or LINE_CONTROL_RE.search(url)):
        errors.append((f"{prefix}.url", "must be an http(s) URL"))
    return errors
