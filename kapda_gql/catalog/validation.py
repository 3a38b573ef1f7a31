"""Input rules of catalog management: SKUs, image URLs, text fields, prices and stock."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kapda_gql.catalog.model import VariantSpec
from kapda_gql.domain.text import LINE_CONTROL_RE, TEXT_CONTROL_RE

MAX_STOCK = 1_000_000
MAX_PRICE = 10_000_000_00  # ₹1 crore in paise: anything above is a typo, not a garment
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
URL_RE = re.compile(r"^https?://\S{1,2000}$")
# PostgreSQL refuses NUL in text (a 500 if it got that far), and no title or size needs a control character.
CONTROL_MESSAGE = "must not contain control characters"


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:200] or "product"


def validate_variants(variants: Sequence[VariantSpec], prefix: str = "variants") -> list[tuple[str, str]]:
    errors = []
    seen: set[str] = set()
    for i, v in enumerate(variants):
        where = f"{prefix}[{i}]"
        if not SKU_RE.match(v.sku):
            errors.append((f"{where}.sku", "must be 1-64 letters, digits, '.', '_' or '-'"))
        elif v.sku.lower() in seen:
            errors.append((f"{where}.sku", "is repeated"))
        seen.add(v.sku.lower())
        if not 0 <= v.stock <= MAX_STOCK:
            errors.append((f"{where}.stock", f"must be between 0 and {MAX_STOCK}"))
        if v.price is not None and not 0 <= v.price <= MAX_PRICE:
            errors.append((f"{where}.price", f"must be between 0 and {MAX_PRICE} paise"))
        for name, value in (("size", v.size), ("color", v.color)):
            if value is not None and not 0 < len(value.strip()) <= 32:
                errors.append((f"{where}.{name}", "must be 1-32 characters"))
            elif value is not None and LINE_CONTROL_RE.search(value):
                errors.append((f"{where}.{name}", CONTROL_MESSAGE))
    return errors


def validate_fields(
    title: str | None,
    description: str | None,
    category: str | None,
    price: int | None,
    images: Sequence[str] | None,
) -> list[tuple[str, str]]:
    errors = []
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
    if price is not None and not 0 <= price <= MAX_PRICE:
        errors.append(("price", f"must be between 0 and {MAX_PRICE} paise"))
    if images is not None:
        if len(images) > 12:
            errors.append(("images", "at most 12 images"))
        errors.extend(
            (f"images[{i}]", "must be an http(s) URL")
            for i, u in enumerate(images)
            if not URL_RE.match(u) or LINE_CONTROL_RE.search(u)
        )
    return errors
