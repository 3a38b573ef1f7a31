"""The sandbox retries failed webhook deliveries as Razorpay does, and redelivers on demand.

Real HTTP both ways: the sandbox on loopback posts to a throwaway receiver that
answers a scripted sequence of statuses. Retry windows are fractions of a second.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET
from kapda_gql.devtools.sandbox.server import SandboxServer
from kapda_gql.devtools.sandbox.webhooks import RetryPolicy


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (then ``then``), recording event ids."""

    script: list[int] = field(default_factory=list)
    then: int = 200
    received: list[tuple[str, int, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, event_id: str, body: bytes) -> int:
        with self.lock:
            status = self.script.pop(0) if self.script else self.then
            self.received.append((event_id, status, body))
            return status

    def statuses(self, event_id: str) -> list[int]:
        with self.lock:
            return [s for e, s, _ in self.received if e == event_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer(self.headers.get("X-Razorpay-Event-Id", ""), body)
            self.send_response(status)
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


def sandbox(url: str | None, *, window: float, backoff: float) -> SandboxServer:
    return SandboxServer(
        key_id=SANDBOX_KEY_ID,
        key_secret=SANDBOX_KEY_SECRET,
        webhook_secret=SANDBOX_WEBHOOK_SECRET,
        webhook_url=url,
        webhook_retry_window=window,
        webhook_backoff=backoff,
    )


def pay_new_order(server: SandboxServer, **options: Any) -> str:
    """An authorized payment through the real routes; the id of its ``payment.authorized`` event."""
    with httpx.Client(base_url=server.base_url, auth=(SANDBOX_KEY_ID, SANDBOX_KEY_SECRET)) as client:
        order = client.post("/v1/orders", json={"amount": 50000, "currency": "INR"}).json()
        paid = client.post(f"/sandbox/orders/{order['id']}/pay", json={"outcome": "authorized", **options})
        assert paid.status_code == 200
    (event,) = [
        e
        for e in server.state.events_of_type("payment.authorized")
        if json.loads(e.body)["payload"]["payment"]["entity"]["order_id"] == order["id"]
    ]
    return event.id


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def delivery_of(server: SandboxServer, event_id: str) -> dict[str, Any]:
    listed = httpx.get(f"{server.base_url}/sandbox/webhooks").json()
    return next(d for d in listed["items"] if d["id"] == event_id)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(receiver: Receiver) -> None:
    receiver.script = [500, 503]
    with sandbox(receiver.url, window=10, backoff=0.1) as server:
        event_id = pay_new_order(server)
        wait_until(lambda: receiver.statuses(event_id) == [500, 503, 200])
        delivery = delivery_of(server, event_id)
        time.sleep(0.5)  # longer than the next gap would be: nothing more is sent once delivered

    assert receiver.statuses(event_id) == [500, 503, 200]
    bodies = {body for e, _, body in receiver.received if e == event_id}
    assert len(bodies) == 1  # the same bytes each time, so the same signature and event id
    assert delivery["delivery"] == "delivered"
    assert delivery["next_attempt_at"] is None
    attempts = delivery["attempts"]
    assert [(a["mode"], a["status"], a["ok"]) for a in attempts] == [
        ("auto", 500, False),
        ("retry", 503, False),
        ("retry", 200, True),
    ]
    # Each gap is the backoff (doubled the second time) plus the failed POST's own time.
    assert 0.1 <= attempts[1]["at"] - attempts[0]["at"] < 5.0
    assert 0.2 <= attempts[2]["at"] - attempts[1]["at"] < 5.0


def test_the_window_ends_retries(receiver: Receiver) -> None:
    receiver.then = 500
    with sandbox(receiver.url, window=2.0, backoff=0.4) as server:
        event_id = pay_new_order(server)
        # Attempts at 0, 0.4 and 1.2 s (plus each POST's own time); the next would be at 2.8 s.
        wait_until(lambda: delivery_of(server, event_id)["delivery"] == "failed")
        time.sleep(1.0)
        delivery = delivery_of(server, event_id)
        failed = httpx.get(f"{server.base_url}/sandbox/webhooks", params={"delivery": "failed"}).json()

    assert receiver.statuses(event_id) == [500, 500, 500]
    assert [a["mode"] for a in delivery["attempts"]] == ["auto", "retry", "retry"]
    assert delivery["attempts"][-1]["at"] - delivery["attempts"][0]["at"] <= 2.0
    assert delivery["next_attempt_at"] is None
    assert [d["id"] for d in failed["items"]] == [event_id]
    assert failed["retry_window_seconds"] == 2.0
    assert failed["backoff_seconds"] == 0.4


def test_an_unreachable_receiver_is_retried_too(receiver: Receiver) -> None:
    with sandbox("http://127.0.0.1:9/unreachable", window=1.0, backoff=0.2) as server:
        event_id = pay_new_order(server)
        wait_until(lambda: delivery_of(server, event_id)["delivery"] == "failed")
        attempts = delivery_of(server, event_id)["attempts"]

    assert len(attempts) >= 2  # how many fit in the window depends on how long each refusal takes
    assert [a["mode"] for a in attempts] == ["auto"] + ["retry"] * (len(attempts) - 1)
    assert {(a["status"], a["error"]) for a in attempts} == {(None, "ConnectError")}


def test_failed_events_are_redelivered_on_demand(receiver: Receiver) -> None:
    receiver.then = 500
    # No retries at all: each event gets its one automatic attempt.
    with sandbox(receiver.url, window=0, backoff=1) as server:
        first = pay_new_order(server)
        wait_until(lambda: delivery_of(server, first)["delivery"] == "failed")
        second = pay_new_order(server)
        wait_until(lambda: delivery_of(server, second)["delivery"] == "failed")
        third = pay_new_order(server, deliver_webhooks=False)  # never sent: not "failed"
        receiver.then = 200
        with httpx.Client(base_url=server.base_url) as client:
            all_failed = client.post("/sandbox/webhooks/redeliver", json={})
            again = client.post("/sandbox/webhooks/redeliver", json={})
            one = client.post("/sandbox/webhooks/redeliver", json={"event_id": third})
            unknown = client.post("/sandbox/webhooks/redeliver", json={"event_id": "evt_nope"})
        listed = {d["id"]: d for d in httpx.get(f"{server.base_url}/sandbox/webhooks").json()["items"]}

    assert all_failed.status_code == 200
    assert all_failed.json() == {
        "count": 2,
        "items": [{"event_id": first, "status": 200}, {"event_id": second, "status": 200}],
    }
    assert again.json() == {"count": 0, "items": []}  # nothing left failing
    assert one.json() == {"count": 1, "items": [{"event_id": third, "status": 200}]}
    assert unknown.status_code == 404
    assert receiver.statuses(first) == receiver.statuses(second) == [500, 200]
    assert receiver.statuses(third) == [200]
    assert [a["mode"] for a in listed[second]["attempts"]] == ["auto", "redeliver"]
    assert listed[second]["delivery"] == listed[third]["delivery"] == "delivered"


def test_redelivery_needs_a_webhook_url() -> None:
    with sandbox(None, window=1, backoff=1) as server:
        response = httpx.post(f"{server.base_url}/sandbox/webhooks/redeliver", json={})

    assert response.status_code == 409
    assert response.json()["error"]["description"] == "No webhook_url is configured"


def test_a_delivery_on_demand_ends_the_schedule(receiver: Receiver) -> None:
    receiver.script = [500]
    with sandbox(receiver.url, window=10, backoff=1.0) as server:
        event_id = pay_new_order(server)
        wait_until(lambda: delivery_of(server, event_id)["delivery"] == "retrying")
        assert server.state.redeliver(event_id) == [{"event_id": event_id, "status": 200}]
        time.sleep(1.3)  # past the scheduled retry
        delivery = delivery_of(server, event_id)

    assert receiver.statuses(event_id) == [500, 200]
    assert [a["mode"] for a in delivery["attempts"]] == ["auto", "redeliver"]
    assert delivery["next_attempt_at"] is None


def test_reset_drops_scheduled_retries(receiver: Receiver) -> None:
    receiver.then = 500
    with sandbox(receiver.url, window=10, backoff=1.0) as server:
        event_id = pay_new_order(server)
        wait_until(lambda: delivery_of(server, event_id)["delivery"] == "retrying")
        server.state.reset()
        time.sleep(1.3)
        delivery = delivery_of(server, event_id)

    assert receiver.statuses(event_id) == [500]
    assert delivery["delivery"] == "failed"


def test_default_policy_is_a_day_of_growing_gaps() -> None:
    policy = RetryPolicy()
    gaps = [policy.gap(n) for n in range(1, 12)]
    total = 0.0
    made = 0
    for gap in gaps:
        if total + gap > policy.window_seconds:
            break
        total += gap
        made += 1

    assert policy.window_seconds == 24 * 3600
    assert gaps[:3] == [60.0, 120.0, 240.0]
    assert 8 <= made <= 11  # about ten retries spread over the day
    assert json.loads(json.dumps(policy.to_json()))["retry_window_seconds"] == 86400
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff_seconds=0)
