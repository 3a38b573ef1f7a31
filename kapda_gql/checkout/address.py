"""The shipping address a checkout is started with, and the payment proof it is finished with.

Their rules (lengths, PIN codes, phone numbers) are input validation: ``kapda_gql.domain.validation``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kapda_gql.domain import validation
from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.text import has_control


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
        # Its fields by name (dataclasses.asdict would deep-copy each string on every startCheckout).
        return Address(**validation.validate_address({f: getattr(self, f) for f in _ADDRESS_FIELDS}))

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


_ADDRESS_FIELDS = tuple(Address.__dataclass_fields__)


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
