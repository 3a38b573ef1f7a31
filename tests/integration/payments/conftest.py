"""Payment fixtures: a paid checkout whose client has not called `checkout` yet, and deliveries of the
sandbox's own signed events to the real app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.documents import ADD
from tests.support.flows import pay, start
from tests.support.webhooks import WEBHOOK, Paid


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


@pytest.fixture
def deliver(api: Any, sandbox: Any) -> Any:
    """POST a sandbox event's exact bytes and headers to the app, as Razorpay would."""

    async def send(event_id: str) -> httpx.Response:
        body, headers = sandbox.state.webhook_request(event_id)
        response: httpx.Response = await api.client.post(WEBHOOK, content=body, headers=headers)
        return response

    return send
