"""Checkout and webhook outcomes reach /metrics from the real code paths, not only when called directly."""

from __future__ import annotations

import re
from typing import Any

from tests.support.documents import ADD
from tests.support.flows import finish, pay, start


async def _metric(api: Any, name: str, **labels: str) -> float:
    text = (await api.client.get("/metrics")).text
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(label_text)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_checkout_and_webhook_outcomes_are_counted(
    api: Any, make_user: Any, make_product: Any, sandbox: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("MET-1", "M", None, 5, None)])
    completed = await _metric(api, "kapda_checkout_outcomes_total", outcome="completed")
    forged = await _metric(api, "kapda_checkout_outcomes_total", outcome="payment_verification_failed")
    bad_signature = await _metric(
        api, "kapda_webhook_events_total", event_type="unknown", outcome="bad_signature"
    )

    await api.ok(ADD, {"v": product["variant_ids"][0], "q": 1}, token=customer.token)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    bad = await finish(api, customer.token, session, {**payment, "razorpay_signature": "0" * 64})
    assert bad["errors"][0]["extensions"]["code"] == "PAYMENT_VERIFICATION_FAILED"
    good = await finish(api, customer.token, session, payment)
    assert "errors" not in good
    refused = await api.client.post(
        "/webhooks/razorpay", content=b"{}", headers={"X-Razorpay-Signature": "nope"}
    )
    assert refused.status_code == 400

    assert await _metric(api, "kapda_checkout_outcomes_total", outcome="completed") == completed + 1
    assert (
        await _metric(api, "kapda_checkout_outcomes_total", outcome="payment_verification_failed")
        == forged + 1
    )
    assert (
        await _metric(api, "kapda_webhook_events_total", event_type="unknown", outcome="bad_signature")
        == bad_signature + 1
    )
