"""Webhook helpers: deliveries of the sandbox's own signed events (or hand-signed ones) and a look at
the stored events."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from kapda_gql.config import SANDBOX_WEBHOOK_SECRET

WEBHOOK = "/webhooks/razorpay"


@dataclass
class Paid:
    customer: Any
    session: dict[str, Any]
    payment: dict[str, Any]  # what Razorpay Checkout hands the client: razorpay_payment_id, ...
    variant_id: int

    @property
    def payment_id(self) -> str:
        return str(self.payment["razorpay_payment_id"])

    @property
    def order_id(self) -> str:
        return str(self.session["razorpayOrderId"])


def sandbox_event(
    sandbox: Any, event_type: str, *, payment_id: str | None = None, refund_id: str | None = None
) -> str:
    """The id of the one sandbox event of this type about this payment (or refund)."""
    found = []
    for event in sandbox.state.events_of_type(event_type):
        payload = json.loads(event.body)["payload"]
        if payment_id is not None and payload["payment"]["entity"]["id"] != payment_id:
            continue
        if refund_id is not None and payload["refund"]["entity"]["id"] != refund_id:
            continue
        found.append(event.id)
    assert len(found) == 1, (event_type, payment_id, refund_id, found)
    return str(found[0])


def signature(raw: bytes) -> str:
    return hmac.new(SANDBOX_WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()


def signed(body: dict[str, Any], event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A genuine delivery of a hand-made event: signed with the webhook secret, as Razorpay signs."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return raw, {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": signature(raw),
        "X-Razorpay-Event-Id": event_id or f"evt_test{uuid.uuid4().hex[:14]}",
    }


async def event_rows(db: Any) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT event_id, event_type, status, attempts, last_error, processed_at FROM webhook_events ORDER BY id"
    )
    return [dict(r) for r in rows]
