"""Webhook test helpers: a paid checkout whose client has not called `checkout` yet, and deliveries of
the sandbox's own signed events (or hand-signed ones) to the real app."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kapda_gql.config import SANDBOX_WEBHOOK_SECRET
from tests.checkout.helpers import ADD, pay, start

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


@pytest.fixture
async def product(make_user: Any, make_product: Any) -> dict[str, Any]:
    designer = await make_user("DESIGNER")
    return dict(
        await make_product(designer.designer_id, price=99900, variants=[("WH-1", "M", "Red", 50, None)])
    )


@pytest.fixture
def paid(api: Any, make_user: Any, sandbox: Any, product: dict[str, Any]) -> Any:
    """A customer who put the product in the cart, started checkout and paid in the sandbox."""

    async def make(*, quantity: int = 1, outcome: str | None = "captured") -> Paid:
        customer = await make_user()
        vid = product["variant_ids"][0]
        await api.ok(ADD, {"v": vid, "q": quantity}, token=customer.token)
        session = await start(api, customer.token)
        options = {"outcome": outcome} if outcome else {}
        payment = await pay(sandbox.base_url, session["razorpayOrderId"], **options)
        return Paid(customer, session, payment, vid)

    return make


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


@pytest.fixture
def deliver(api: Any, sandbox: Any) -> Any:
    """POST a sandbox event's exact bytes and headers to the app, as Razorpay would."""

    async def send(event_id: str) -> httpx.Response:
        body, headers = sandbox.state.webhook_request(event_id)
        response: httpx.Response = await api.client.post(WEBHOOK, content=body, headers=headers)
        return response

    return send


async def event_rows(db: Any) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT event_id, event_type, status, attempts, last_error, processed_at FROM webhook_events ORDER BY id"
    )
    return [dict(r) for r in rows]
