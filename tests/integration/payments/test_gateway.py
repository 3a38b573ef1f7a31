"""The Razorpay gateway adapter, exercised through the real SDK against the local sandbox."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kapda_gql.devtools.sandbox.server import SandboxServer
from kapda_gql.domain.errors import PaymentGatewayRejected, PaymentGatewayUnavailable
from kapda_gql.payments import GatewayOrder, PaymentGateway

KEY_ID = "rzp_test_kapdasandbox"
KEY_SECRET = "sandbox-key-secret-3f9a1c"
WEBHOOK_SECRET = "sandbox-webhook-secret-77b2"
AMOUNT = 129900


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secret=WEBHOOK_SECRET).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _restore_sandbox_knobs(sandbox: SandboxServer) -> Iterator[None]:
    yield
    sandbox.state.reset()
    sandbox.webhook_url = None


def make_gateway(sandbox: SandboxServer, **overrides: Any) -> PaymentGateway:
    options: dict[str, Any] = {
        "key_id": KEY_ID,
        "key_secret": KEY_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "base_url": sandbox.base_url,
        "timeout": 5.0,
    }
    options.update(overrides)
    return PaymentGateway(**options)


@pytest.fixture(scope="module")
def gateway(sandbox: SandboxServer) -> Iterator[PaymentGateway]:
    gw = make_gateway(sandbox)
    yield gw
    gw.close()


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A throwaway HTTP endpoint that records what the sandbox posts to it."""

    answer_status: int = 200
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.received()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.deliveries.append(Delivery(dict(self.headers.items()), body))
            self.send_response(state.answer_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/razorpay"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def pay(sandbox: SandboxServer, order_id: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{sandbox.base_url}/sandbox/orders/{order_id}/pay", json=options)


async def new_order(gateway: PaymentGateway, amount: int = AMOUNT) -> GatewayOrder:
    return await gateway.create_order(
        amount=amount, currency="INR", receipt="chk_test", notes={"checkout": "c1"}
    )


async def captured_payment_id(gateway: PaymentGateway, sandbox: SandboxServer) -> str:
    order = await new_order(gateway)
    response = await pay(sandbox, order.id, outcome="captured")
    return str(response.json()["razorpay_payment_id"])


def _order_body(order_id: str) -> bytes:
    """A Razorpay order as the API sends it, for the hand-made servers below."""
    return json.dumps(
        {"id": order_id, "amount": AMOUNT, "currency": "INR", "receipt": None, "status": "created"}
    ).encode()


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# -- orders and payments ------------------------------------------------------


async def test_create_order_round_trips_through_the_sdk(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    order = await new_order(gateway)

    assert order.id.startswith("order_")
    assert len(order.id) == len("order_") + 14
    assert (order.amount, order.currency, order.receipt, order.status) == (
        AMOUNT,
        "INR",
        "chk_test",
        "created",
    )
    assert await gateway.fetch_order(order.id) == order
    assert sandbox.state.orders[order.id]["notes"] == {"checkout": "c1"}


async def test_checkout_signature_verifies_and_forgeries_do_not(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    order = await new_order(gateway)
    answer = (await pay(sandbox, order.id)).json()
    payment_id, signature = answer["razorpay_payment_id"], answer["razorpay_signature"]

    assert answer["razorpay_order_id"] == order.id
    assert gateway.verify_payment_signature(order_id=order.id, payment_id=payment_id, signature=signature)
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert not gateway.verify_payment_signature(order_id=order.id, payment_id=payment_id, signature=forged)
    other_order = await new_order(gateway)
    assert not gateway.verify_payment_signature(
        order_id=other_order.id, payment_id=payment_id, signature=signature
    )
    assert not gateway.verify_payment_signature(order_id=order.id, payment_id=payment_id, signature="")
    assert not gateway.verify_payment_signature(order_id=order.id, payment_id=payment_id, signature="ü" * 64)


async def test_authorized_payment_is_captured_exactly_once(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    order = await new_order(gateway)
    payment_id = (await pay(sandbox, order.id)).json()["razorpay_payment_id"]

    fetched = await gateway.fetch_payment(payment_id)
    assert (fetched.status, fetched.amount, fetched.currency, fetched.order_id) == (
        "authorized",
        AMOUNT,
        "INR",
        order.id,
    )

    captured = await gateway.capture_payment(payment_id, amount=AMOUNT, currency="INR")
    assert captured.status == "captured"
    assert (await gateway.fetch_order(order.id)).status == "paid"

    with pytest.raises(PaymentGatewayRejected) as excinfo:
        await gateway.capture_payment(payment_id, amount=AMOUNT, currency="INR")
    assert excinfo.value.extensions["gatewayCode"] == "BAD_REQUEST_ERROR"
    assert "already been captured" in excinfo.value.extensions["gatewayDescription"]


async def test_capture_of_a_different_amount_is_rejected(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    order = await new_order(gateway)
    payment_id = (await pay(sandbox, order.id)).json()["razorpay_payment_id"]

    with pytest.raises(PaymentGatewayRejected):
        await gateway.capture_payment(payment_id, amount=AMOUNT - 1, currency="INR")
    assert sandbox.state.payments[payment_id]["status"] == "authorized"


async def test_tampered_amount_is_visible_on_fetch(gateway: PaymentGateway, sandbox: SandboxServer) -> None:
    order = await new_order(gateway)
    payment_id = (await pay(sandbox, order.id, amount=100)).json()["razorpay_payment_id"]

    assert (await gateway.fetch_payment(payment_id)).amount == 100


async def test_failed_checkout_payment_carries_the_bank_error(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    order = await new_order(gateway)
    response = await pay(sandbox, order.id, outcome="failed")

    assert response.status_code == 402
    body = response.json()
    assert "razorpay_signature" not in body
    payment = await gateway.fetch_payment(body["error"]["metadata"]["payment_id"])
    assert payment.status == "failed"
    assert payment.error_code == "BAD_REQUEST_ERROR"
    assert payment.error_description
    failed_events = [json.loads(e.body) for e in sandbox.state.events_of_type("payment.failed")]
    assert payment.id in {b["payload"]["payment"]["entity"]["id"] for b in failed_events}


async def test_fetching_an_unknown_payment_is_rejected(gateway: PaymentGateway) -> None:
    with pytest.raises(PaymentGatewayRejected) as excinfo:
        await gateway.fetch_payment("pay_DoesNotExist00")
    assert excinfo.value.extensions["gatewayDescription"] == "The id provided does not exist"


@pytest.mark.parametrize(
    "bad_id", ["pay_x/../../orders/order_abc", "order_AbCdEfGhIjKlMn", "pay_", "pay_a?b=c"]
)
async def test_malformed_ids_never_reach_the_gateway(
    gateway: PaymentGateway, sandbox: SandboxServer, bad_id: str
) -> None:
    sandbox.state.fail_next("fetch_payment", 1, status=503)

    with pytest.raises(PaymentGatewayRejected):
        await gateway.fetch_payment(bad_id)
    # The armed fault is still there: no request was made.
    assert sandbox.state.knobs()["fail_next"]["fetch_payment"]["times"] == 1


async def test_invalid_order_is_rejected_with_the_field(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    with pytest.raises(PaymentGatewayRejected):
        await gateway.create_order(amount=99, currency="INR", receipt="r")

    async with httpx.AsyncClient(auth=(KEY_ID, KEY_SECRET)) as client:
        response = await client.post(f"{sandbox.base_url}/v1/orders", json={"amount": 99, "currency": "INR"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "amount"


async def test_base_url_with_v1_suffix_still_works(sandbox: SandboxServer) -> None:
    gw = make_gateway(sandbox, base_url=sandbox.base_url + "/v1/")
    try:
        order = await new_order(gw)
    finally:
        gw.close()
    assert order.id in sandbox.state.orders


async def test_concurrent_calls_are_safe(gateway: PaymentGateway) -> None:
    orders = await asyncio.gather(*(new_order(gateway, amount=100 + i) for i in range(20)))
    fetched = await asyncio.gather(*(gateway.fetch_order(o.id) for o in orders))

    assert [o.amount for o in fetched] == [100 + i for i in range(20)]
    assert len({o.id for o in orders}) == 20


# -- refunds ------------------------------------------------------------------


async def test_refund_with_the_same_idempotency_key_refunds_once(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    payment_id = await captured_payment_id(gateway, sandbox)

    first = await gateway.refund_payment(payment_id, amount=50000, idempotency_key="refund-order-1")
    second = await gateway.refund_payment(payment_id, amount=50000, idempotency_key="refund-order-1")

    assert first == second
    assert (first.amount, first.status, first.payment_id) == (50000, "processed", payment_id)
    assert len(sandbox.state.refunds_for_payment(payment_id)) == 1
    assert await gateway.fetch_refund(first.id) == first


async def test_refund_retried_after_a_lost_answer_refunds_once(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    payment_id = await captured_payment_id(gateway, sandbox)
    sandbox.state.fail_next("refund", 1, after_processing=True)

    with pytest.raises(PaymentGatewayUnavailable):
        await gateway.refund_payment(payment_id, amount=AMOUNT, idempotency_key="refund-lost")
    refund = await gateway.refund_payment(payment_id, amount=AMOUNT, idempotency_key="refund-lost")

    assert [r["id"] for r in sandbox.state.refunds_for_payment(payment_id)] == [refund.id]
    assert (await gateway.fetch_payment(payment_id)).status == "refunded"


async def test_refund_over_the_unrefunded_amount_is_rejected(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    payment_id = await captured_payment_id(gateway, sandbox)
    await gateway.refund_payment(payment_id, amount=AMOUNT - 100, idempotency_key="part-1")

    with pytest.raises(PaymentGatewayRejected):
        await gateway.refund_payment(payment_id, amount=101, idempotency_key="part-2")
    assert len(sandbox.state.refunds_for_payment(payment_id)) == 1


async def test_pending_refund_settles_later(gateway: PaymentGateway, sandbox: SandboxServer) -> None:
    payment_id = await captured_payment_id(gateway, sandbox)
    sandbox.state.refund_status = "pending"

    refund = await gateway.refund_payment(payment_id, amount=AMOUNT, idempotency_key="slow-bank")
    assert refund.status == "pending"
    async with httpx.AsyncClient() as client:
        settled = await client.post(
            f"{sandbox.base_url}/sandbox/refunds/{refund.id}/settle", json={"status": "failed"}
        )

    assert settled.status_code == 200
    assert (await gateway.fetch_refund(refund.id)).status == "failed"
    assert (await gateway.fetch_payment(payment_id)).status == "captured"
    assert any(
        json.loads(e.body)["payload"]["refund"]["entity"]["id"] == refund.id
        for e in sandbox.state.events_of_type("refund.failed")
    )


# -- failures -----------------------------------------------------------------


async def test_wrong_key_secret_is_rejected_without_leaking_it(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_secret = "not-the-secret-5e1d"
    gw = make_gateway(sandbox, key_secret=wrong_secret)
    caplog.set_level(logging.DEBUG, logger="kapda_gql.payments")
    try:
        with pytest.raises(PaymentGatewayRejected) as excinfo:
            await new_order(gw)
    finally:
        gw.close()

    assert excinfo.value.extensions["gatewayDescription"] == "Authentication failed"
    assert wrong_secret not in str(excinfo.value.to_dict())
    assert caplog.records
    assert all(wrong_secret not in r.getMessage() for r in caplog.records)


async def test_server_error_is_unavailable_and_clears(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    order = await new_order(gateway)
    sandbox.state.fail_next("fetch_order", 1, status=503)

    with pytest.raises(PaymentGatewayUnavailable):
        await gateway.fetch_order(order.id)
    assert (await gateway.fetch_order(order.id)).id == order.id


async def test_faults_can_be_injected_over_http(gateway: PaymentGateway, sandbox: SandboxServer) -> None:
    payment_id = await captured_payment_id(gateway, sandbox)
    async with httpx.AsyncClient() as client:
        knobs = await client.post(
            f"{sandbox.base_url}/sandbox/faults", json={"fail_next": {"route": "refund", "times": 2}}
        )
    assert knobs.json()["fail_next"]["refund"]["times"] == 2

    for _ in range(2):
        with pytest.raises(PaymentGatewayUnavailable):
            await gateway.refund_payment(payment_id, amount=100, idempotency_key="flaky")
    assert sandbox.state.refunds_for_payment(payment_id) == []
    assert (await gateway.refund_payment(payment_id, amount=100, idempotency_key="flaky")).amount == 100


async def test_slow_gateway_times_out_within_the_bound(sandbox: SandboxServer) -> None:
    order = await new_order(make_gateway(sandbox))
    sandbox.state.delay_seconds = 5.0
    gw = make_gateway(sandbox, timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(PaymentGatewayUnavailable):
            await gw.fetch_order(order.id)
    finally:
        gw.close()
    elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 2.5


async def test_unreachable_gateway_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gw = PaymentGateway(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        base_url=f"http://127.0.0.1:{closed_port}",
        timeout=2.0,
    )
    try:
        with pytest.raises(PaymentGatewayUnavailable):
            await gw.fetch_payment("pay_anything00000")
    finally:
        gw.close()


def test_missing_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="required"):
        PaymentGateway(key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secret="")


async def test_calls_are_logged_without_secrets(
    gateway: PaymentGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kapda_gql.payments")
    await new_order(gateway)

    messages = [r.getMessage() for r in caplog.records if r.name == "kapda_gql.payments"]
    assert any("create_order POST /v1/orders -> ok" in m for m in messages)
    assert not any(KEY_SECRET in m or WEBHOOK_SECRET in m for m in messages)


async def test_sandbox_api_requires_basic_auth(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{sandbox.base_url}/v1/payments/pay_x")

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": "Authentication failed",
            "source": "NA",
            "step": "NA",
            "reason": "NA",
            "metadata": {},
        }
    }


# -- webhooks -----------------------------------------------------------------


def test_webhook_signature_is_checked_over_the_raw_bytes(gateway: PaymentGateway) -> None:
    body = b'{"event":"payment.captured","payload":{"payment":{"entity":{"amount":129900}}}}'
    signature = sign(WEBHOOK_SECRET, body)

    assert gateway.verify_webhook_signature(body, signature)
    assert not gateway.verify_webhook_signature(body.replace(b"129900", b"100"), signature)
    reserialised = json.dumps(json.loads(body)).encode()
    assert not gateway.verify_webhook_signature(reserialised, signature)
    assert not gateway.verify_webhook_signature(body, None)
    assert not gateway.verify_webhook_signature(body, "")
    assert not gateway.verify_webhook_signature(body, sign(KEY_SECRET, body))
    assert not gateway.verify_webhook_signature(body, "é" + signature[1:])


async def test_webhooks_are_delivered_signed(
    gateway: PaymentGateway, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    sandbox.webhook_url = receiver.url
    order = await new_order(gateway)
    await pay(sandbox, order.id, outcome="captured")

    deliveries = await receiver.wait_for(3)
    bodies = [json.loads(d.body) for d in deliveries]

    assert [b["event"] for b in bodies] == ["payment.authorized", "payment.captured", "order.paid"]
    assert all(
        gateway.verify_webhook_signature(d.body, d.headers.get("X-Razorpay-Signature")) for d in deliveries
    )
    assert all(d.headers["Content-Type"] == "application/json" for d in deliveries)
    assert {d.headers["X-Razorpay-Event-Id"] for d in deliveries} <= set(sandbox.state.events)
    assert bodies[2]["payload"]["order"]["entity"]["id"] == order.id
    event_id = deliveries[2].headers["X-Razorpay-Event-Id"]
    assert sandbox.state.webhook_request(event_id) == (
        deliveries[2].body,
        {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": deliveries[2].headers["X-Razorpay-Signature"],
            "X-Razorpay-Event-Id": event_id,
        },
    )
    assert bodies[1]["payload"]["payment"]["entity"]["status"] == "captured"


async def test_events_can_be_redelivered_identically(
    gateway: PaymentGateway, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    sandbox.webhook_url = receiver.url
    order = await new_order(gateway)
    await pay(sandbox, order.id, outcome="captured", deliver_webhooks=False)
    event = sandbox.state.events_of_type("order.paid")[-1]
    receiver.answer_status = 500

    async with httpx.AsyncClient() as client:
        first = await client.post(f"{sandbox.base_url}/sandbox/events/{event.id}/deliver")
        receiver.answer_status = 200
        second = await client.post(f"{sandbox.base_url}/sandbox/events/{event.id}/deliver")
        listed = await client.get(f"{sandbox.base_url}/sandbox/events", params={"event": "order.paid"})

    assert (first.json()["status"], second.json()["status"]) == (500, 200)
    assert [d.body for d in receiver.received()] == [event.body, event.body]
    attempts = next(e["attempts"] for e in listed.json()["items"] if e["id"] == event.id)
    assert [a["status"] for a in attempts] == [500, 200]


async def test_refund_events_are_recorded_with_the_refund(
    gateway: PaymentGateway, sandbox: SandboxServer
) -> None:
    payment_id = await captured_payment_id(gateway, sandbox)
    refund = await gateway.refund_payment(payment_id, amount=AMOUNT, idempotency_key="evt-refund")

    processed = [json.loads(e.body) for e in sandbox.state.events_of_type("refund.processed")]
    mine = [b for b in processed if b["payload"]["refund"]["entity"]["id"] == refund.id]
    assert len(mine) == 1
    assert mine[0]["payload"]["payment"]["entity"]["id"] == payment_id
    assert mine[0]["contains"] == ["refund", "payment"]


# -- how the SDK's HTTP session is set up ------------------------------------------


async def test_a_proxy_from_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies are read from the environment once per client, not per request, but still honoured;
    cookies are not kept."""
    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)  # a proxy receives the absolute URL
            body = _order_body("order_viaproxy")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", "lb=node-7; Path=/")  # as a load balancer might
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    gateway = PaymentGateway(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        base_url="http://razorpay.invalid",
    )
    try:
        order = await gateway.fetch_order("order_viaproxy")
        jars = [len(session.cookies) for session in gateway.sdk_sessions()]
    finally:
        gateway.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert order.id == "order_viaproxy"
    assert seen == ["http://razorpay.invalid/v1/orders/order_viaproxy"]
    assert jars == [0]  # the API needs no cookies, and a growing jar is walked on every call


async def test_the_sdk_version_is_looked_up_once_per_client_not_per_call(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata

    lookups: list[str] = []
    real = importlib.metadata.version

    def counted(name: str) -> str:
        lookups.append(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", counted)
    gateway = make_gateway(sandbox)
    try:
        for _ in range(40):
            await new_order(gateway)
        clients = len(gateway.sdk_sessions())
    finally:
        gateway.close()
    # One lookup per worker thread that made a client (at most the pool's 16), where the SDK used
    # to look it up on every one of the 40 calls.
    assert 1 <= lookups.count("razorpay") <= clients <= 16


async def test_gateway_calls_do_not_queue_behind_a_busy_default_executor(gateway: PaymentGateway) -> None:
    """Password hashing and other to_thread work share asyncio's default executor; payments do not."""
    release = threading.Event()
    busy = [asyncio.create_task(asyncio.to_thread(release.wait, 10)) for _ in range(64)]
    try:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        order = await new_order(gateway)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        await asyncio.gather(*busy)
    assert order.status == "created"
    assert elapsed < 2.0  # the default executor stays blocked for up to 10 s


async def test_a_connection_idle_past_the_servers_keep_alive_is_never_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server ends idle keep-alive connections on its own clock; a request sent on one just as
    it does fails although the server never read it. This server makes that moment certain: a
    request arriving on a connection idle longer than ``SERVER_IDLE`` is dropped unanswered. The
    gateway closes connections idle past ``IDLE_CONNECTION_SECONDS`` instead of reusing them."""
    from concurrent.futures import ThreadPoolExecutor

    from kapda_gql.payments import gateway as gateway_module

    server_idle = 0.4
    connections: list[int] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            self.answered_at: float | None = None
            connections.append(self.client_address[1])
            super().handle()

        def do_GET(self) -> None:
            if self.answered_at is not None and time.monotonic() - self.answered_at > server_idle:
                self.close_connection = True  # "closed while idle": nothing read, nothing answered
                return
            body = _order_body("order_keepalive")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.answered_at = time.monotonic()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    # One SDK thread, so consecutive calls share one client and its pooled connection.
    one_thread = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(gateway_module, "_THREADS", one_thread)
    gateway = PaymentGateway(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        base_url=f"http://127.0.0.1:{server.server_address[1]}",
    )

    async def calls(spacing: float, count: int) -> list[str]:
        outcomes = []
        for _ in range(count):
            await asyncio.sleep(spacing)
            try:
                outcomes.append((await gateway.fetch_order("order_keepalive")).id)
            except PaymentGatewayUnavailable:
                outcomes.append("unavailable")
        return outcomes

    try:
        # Quick calls reuse the connection.
        assert await calls(0.0, 3) == ["order_keepalive"] * 3
        assert len(connections) == 1
        # Reused past the server's idle time, the call fails: the race this guards against.
        monkeypatch.setattr(gateway_module, "IDLE_CONNECTION_SECONDS", 60.0)
        assert await calls(server_idle + 0.2, 1) == ["unavailable"]
        # Closed first when idle past the gateway's own bound: every call gets its answer.
        monkeypatch.setattr(gateway_module, "IDLE_CONNECTION_SECONDS", server_idle / 2)
        before = len(connections)
        assert await calls(server_idle + 0.2, 3) == ["order_keepalive"] * 3
        assert len(connections) - before == 3  # a new connection for each
    finally:
        gateway.close()
        one_thread.shutdown(wait=False)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
