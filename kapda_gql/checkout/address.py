"""The shipping address a checkout is started with, and the payment proof it is finished with.

Their rules (lengths, PIN codes, phone numbers) are input validation; the rules branch moves them to
``kapda_gql.domain.validation``, and then ``validated`` only asks there.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.text import has_control

PIN_RE = re.compile(r"^[1-9][0-9]{5}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{6,18}[0-9]$")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _validate_address(fields: dict[str, Any], prefix: str = "shippingAddress") -> dict[str, Any]:
    errors: list[tuple[str, str]] = []
    clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    for field, limit in (("name", 200), ("line1", 200), ("city", 100), ("state", 100)):
        if not 0 < len(clean[field]) <= limit:
            errors.append((f"{prefix}.{field}", f"must be 1-{limit} characters"))
    errors.extend(
        (f"{prefix}.{_camel(k)}", "must not contain control characters")
        for k, v in clean.items()
        if isinstance(v, str) and has_control(v)
    )
    if clean["line2"] is not None and len(clean["line2"]) > 200:
        errors.append((f"{prefix}.line2", "must be at most 200 characters"))
    if not re.fullmatch(r"[A-Z]{2}", clean["country"].upper()):
        errors.append((f"{prefix}.country", "must be a two-letter ISO country code"))
    elif clean["country"].upper() == "IN" and not PIN_RE.match(clean["postal_code"]):
        errors.append((f"{prefix}.postalCode", "must be a 6-digit Indian PIN code"))
    elif not 0 < len(clean["postal_code"]) <= 12:
        errors.append((f"{prefix}.postalCode", "must be 1-12 characters"))
    if not PHONE_RE.match(clean["phone"]):
        errors.append((f"{prefix}.phone", "must be a phone number of 8-15 digits"))
    if errors:
        raise BadUserInput(errors)
    clean["country"] = clean["country"].upper()
    clean["line2"] = clean["line2"] or None
    return clean


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line1: str
    city: str
    state: str
    postal_code: str
    phone: str
    country: str = "IN"
    line2: str | None = None

    def validated(self) -> Address:
        """Stripped and normalised, or BAD_USER_INPUT naming every bad field at once."""
        return Address(**_validate_address(asdict(self)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "state": self.state,
            "postalCode": self.postal_code,
            "country": self.country,
            "phone": self.phone,
        }


@dataclass(frozen=True, slots=True)
class PaymentProof:
    """What Razorpay Checkout hands the client after a payment, sent back to us by ``checkout``."""

    checkout_id: uuid.UUID
    razorpay_order_id: str
    razorpay_payment_id: str
    razorpay_signature: str

    def validated(self) -> PaymentProof:
        errors = [
            (name, "is required and at most 128 characters")
            for name, value in (
                ("razorpayOrderId", self.razorpay_order_id),
                ("razorpayPaymentId", self.razorpay_payment_id),
                ("razorpaySignature", self.razorpay_signature),
            )
            if not 0 < len(value.strip()) <= 128 or has_control(value)
        ]
        if errors:
            raise BadUserInput(errors)
        return self

    def request_hash_payload(self) -> dict[str, str]:
        """What an idempotency key of ``checkout`` compares."""
        return {
            "checkoutId": str(self.checkout_id),
            "orderId": self.razorpay_order_id,
            "paymentId": self.razorpay_payment_id,
            "signature": self.razorpay_signature,
        }
