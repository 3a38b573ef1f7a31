"""The sandbox's state machine: Razorpay's orders, payments and refunds, and the knobs tests turn.

No HTTP here (app.py speaks it): each method is one API call's effect, raising
``SandboxError`` where Razorpay answers an error, and handing the webhook
events it caused to the outbox (webhooks.py) once the lock is released.
"""

from __future__ import annotations

import copy
import hmac
import threading
from dataclasses import dataclass
from typing import Any

from kapda_gql.devtools.sandbox import entities
from kapda_gql.devtools.sandbox.entities import (
    PAY_OUTCOMES,
    SETTLED_REFUND_STATUSES,
    require_amount,
    require_currency,
    require_notes,
)
from kapda_gql.devtools.sandbox.errors import bad_request, not_found
from kapda_gql.devtools.sandbox.webhooks import RetryPolicy, SandboxEvent, WebhookOutbox

#: Names accepted by ``SandboxState.fail_next``: one per ``/v1`` route.
ROUTE_NAMES = frozenset(
    {
        "create_order",
        "fetch_order",
        "order_payments",
        "fetch_payment",
        "capture",
        "refund",
        "fetch_refund",
        "payment_refunds",
    }
)


@dataclass(slots=True)
class Fault:
    remaining: int
    status: int
    after_processing: bool


class SandboxState:
    """The sandbox's whole world, shared by every request thread and loop.

    Every read or write of the entity dicts holds ``lock``; entities handed
    out are deep copies so callers can serialise them without the lock.
    Tests may read ``orders``/``payments``/``refunds`` directly, ideally
    through the helpers, which lock.
    """

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        webhook_url: str | None = None,
        webhook_retry: RetryPolicy | None = None,
    ) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.webhook_secret = webhook_secret
        self.outbox = WebhookOutbox(
            secret=webhook_secret, url=webhook_url, policy=webhook_retry or RetryPolicy()
        )
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._refund_keys: dict[str, str] = {}
        self._faults: dict[str, Fault] = {}
        self.delay_seconds = 0.0
        self.deliver_webhooks = True
        self.refund_status = "processed"
        self.stopping = threading.Event()

    @property
    def webhook_url(self) -> str | None:
        return self.outbox.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.outbox.url = url

    @property
    def events(self) -> dict[str, SandboxEvent]:
        return self.outbox.events

    # -- knobs ----------------------------------------------------------------

    def fail_next(
        self, route_name: str, times: int = 1, status: int = 500, *, after_processing: bool = False
    ) -> None:
        """Make the next ``times`` calls of ``route_name`` answer ``status``.

        With ``after_processing`` the call takes effect first and only the
        answer is lost, which is what makes idempotency keys necessary.
        """
        if route_name not in ROUTE_NAMES:
            raise ValueError(f"unknown route {route_name!r}; expected one of {sorted(ROUTE_NAMES)}")
        if times < 1 or not 400 <= status <= 599:
            raise ValueError("times must be >= 1 and status an HTTP error status")
        with self.lock:
            self._faults[route_name] = Fault(times, status, after_processing)

    def take_fault(self, route_name: str) -> Fault | None:
        with self.lock:
            fault = self._faults.get(route_name)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._faults[route_name]
            return Fault(fault.remaining, fault.status, fault.after_processing)

    def reset(self, *, data: bool = False) -> None:
        """Put every knob back to its default and drop scheduled webhook retries;
        with ``data`` also forget all entities and events."""
        with self.lock:
            self._faults.clear()
            self.delay_seconds = 0.0
            self.deliver_webhooks = True
            self.refund_status = "processed"
            if data:
                for store in (self.orders, self.payments, self.refunds, self._refund_keys):
                    store.clear()
        self.outbox.clear(events=data)

    def knobs(self) -> dict[str, Any]:
        with self.lock:
            return {
                "delay_seconds": self.delay_seconds,
                "deliver_webhooks": self.deliver_webhooks,
                "refund_status": self.refund_status,
                "webhook_url": self.webhook_url,
                "fail_next": {
                    name: {"times": f.remaining, "status": f.status, "after_processing": f.after_processing}
                    for name, f in self._faults.items()
                },
            }

    def check_credentials(self, key_id: str, key_secret: str) -> bool:
        id_ok = hmac.compare_digest(key_id.encode(), self.key_id.encode())
        secret_ok = hmac.compare_digest(key_secret.encode(), self.key_secret.encode())
        return id_ok and secret_ok

    # -- read helpers for tests -----------------------------------------------

    def refunds_for_payment(self, payment_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(r) for r in self.refunds.values() if r["payment_id"] == payment_id]

    def events_of_type(self, event_type: str) -> list[SandboxEvent]:
        return self.outbox.of_type(event_type)

    def list_events(self) -> list[dict[str, Any]]:
        return self.outbox.as_json()

    # -- orders ---------------------------------------------------------------

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        order = entities.new_order(body)
        with self.lock:
            self.orders[order["id"]] = order
            return copy.deepcopy(order)

    def get_order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._order(order_id))

    def order_payments(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            self._order(order_id)
            items = [copy.deepcopy(p) for p in self.payments.values() if p["order_id"] == order_id]
        return entities.collection(items)

    # -- payments -------------------------------------------------------------

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._payment(payment_id))

    def pay(
        self,
        order_id: str,
        *,
        outcome: str | None = None,
        amount: int | None = None,
        deliver: bool | None = None,
    ) -> dict[str, Any]:
        """What Razorpay Checkout does when the customer pays ``order_id``."""
        if amount is not None:
            amount = require_amount(amount, minimum=1)
        with self.lock:
            order = self._order(order_id)
            if order["status"] == "paid":
                raise bad_request("Order has already been paid", "order_id")
            outcome = outcome or ("captured" if order["payment_capture"] else "authorized")
            if outcome not in PAY_OUTCOMES:
                raise bad_request(f"outcome must be one of {sorted(PAY_OUTCOMES)}", "outcome")
            payment = entities.new_payment(order, amount if amount is not None else order["amount"])
            self.payments[payment["id"]] = payment
            order["attempts"] += 1
            order["status"] = "attempted"
            events = self._settle_new_payment(payment, order, outcome)
            result = copy.deepcopy(payment)
        self._dispatch(events, deliver)
        return result

    def capture(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        amount = require_amount(body.get("amount"), minimum=1)
        currency = require_currency(body.get("currency"))
        with self.lock:
            payment = self._payment(payment_id)
            if payment["status"] == "captured" or payment["captured"]:
                raise bad_request("This payment has already been captured")
            if payment["status"] != "authorized":
                raise bad_request(
                    "Only payments which have been authorized and not yet captured can be captured"
                )
            if amount != payment["amount"]:
                raise bad_request("Capture amount must be equal to the amount authorized", "amount")
            if currency != payment["currency"]:
                raise bad_request("Currency should be same as payment currency", "currency")
            events = self._capture_locked(payment)
            result = copy.deepcopy(payment)
        self._dispatch(events, None)
        return result

    # -- refunds --------------------------------------------------------------

    def refund(self, payment_id: str, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        requested = body.get("amount")
        if requested is not None:
            requested = require_amount(requested, minimum=1)
        notes = require_notes(body.get("notes"))
        with self.lock:
            payment = self._payment(payment_id)
            if idempotency_key and idempotency_key in self._refund_keys:
                return self._replay_refund(idempotency_key, payment_id, requested)
            unrefunded = payment["amount"] - payment["amount_refunded"]
            if payment["status"] not in {"captured", "refunded"}:
                raise bad_request("The payment status should be captured for action to be taken")
            if unrefunded <= 0:
                raise bad_request("The payment has been fully refunded already")
            amount = unrefunded if requested is None else requested
            if amount > unrefunded:
                raise bad_request(
                    "The total refund amount is greater than the refund payment amount", "amount"
                )
            refund = self._new_refund(payment, amount, notes)
            if idempotency_key:
                self._refund_keys[idempotency_key] = refund["id"]
            events = [self._record_event("refund.created", payment=payment, refund=refund)]
            if refund["status"] == "processed":
                events.append(self._record_event("refund.processed", payment=payment, refund=refund))
            result = copy.deepcopy(refund)
        self._dispatch(events, None)
        return result

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        """Finish a ``pending`` refund, as the bank eventually does."""
        if status not in SETTLED_REFUND_STATUSES:
            raise bad_request(f"status must be one of {sorted(SETTLED_REFUND_STATUSES)}", "status")
        with self.lock:
            refund = self._refund(refund_id)
            if refund["status"] != "pending":
                raise bad_request(f"The refund is already {refund['status']}")
            payment = self._payment(refund["payment_id"])
            refund["status"] = status
            if status == "failed":
                self._return_refunded_amount(payment, refund["amount"])
            events = [self._record_event(f"refund.{status}", payment=payment, refund=refund)]
            result = copy.deepcopy(refund)
        self._dispatch(events, None)
        return result

    def get_refund(self, refund_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._refund(refund_id))

    def payment_refunds(self, payment_id: str) -> dict[str, Any]:
        with self.lock:
            self._payment(payment_id)
            items = [copy.deepcopy(r) for r in self.refunds.values() if r["payment_id"] == payment_id]
        return entities.collection(items)

    # -- webhooks -------------------------------------------------------------

    def webhook_request(self, event_id: str) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers Razorpay would POST for this event.

        Lets in-process tests feed the webhook route without real HTTP.
        """
        return self.outbox.request(event_id)

    def deliver(self, event_id: str, *, mode: str = "manual") -> int | None:
        """POST the event to ``webhook_url`` now; the service's status, or None if unreachable."""
        return self.outbox.deliver(event_id, mode=mode)

    def redeliver(self, event_id: str | None = None) -> list[dict[str, Any]]:
        """Deliver ``event_id``, or every event whose delivery failed, again now."""
        return self.outbox.redeliver(event_id)

    def close(self) -> None:
        """Stop the background delivery thread (scheduled deliveries are dropped)."""
        self.stopping.set()
        self.outbox.close()

    def _dispatch(self, event_ids: list[str], deliver: bool | None) -> None:
        if deliver is None:
            deliver = self.deliver_webhooks
        if deliver:
            self.outbox.send(event_ids)

    # -- internals (call with the lock held) ----------------------------------

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise not_found()
        return order

    def _payment(self, payment_id: str) -> dict[str, Any]:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise not_found()
        return payment

    def _refund(self, refund_id: str) -> dict[str, Any]:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise not_found()
        return refund

    def _settle_new_payment(self, payment: dict[str, Any], order: dict[str, Any], outcome: str) -> list[str]:
        if outcome == "failed":
            payment.update(
                status="failed",
                error_code="BAD_REQUEST_ERROR",
                error_description="Your payment has been declined by the bank.",
                error_source="bank",
                error_step="payment_authorization",
                error_reason="payment_declined",
            )
            return [self._record_event("payment.failed", payment=payment)]
        payment["status"] = "authorized"
        events = [self._record_event("payment.authorized", payment=payment)]
        if outcome == "captured":
            events += self._capture_locked(payment)
        return events

    def _capture_locked(self, payment: dict[str, Any]) -> list[str]:
        payment["status"] = "captured"
        payment["captured"] = True
        payment["fee"] = payment["amount"] * 2 // 100
        payment["tax"] = payment["fee"] * 18 // 118
        events = [self._record_event("payment.captured", payment=payment)]
        order = self.orders.get(payment["order_id"] or "")
        if order is not None:
            order["amount_paid"] += payment["amount"]
            order["amount_due"] = max(order["amount"] - order["amount_paid"], 0)
            order["status"] = "paid"
            events.append(self._record_event("order.paid", payment=payment, order=order))
        return events

    def _new_refund(self, payment: dict[str, Any], amount: int, notes: dict[str, str]) -> dict[str, Any]:
        refund = entities.new_refund(payment, amount, notes, self.refund_status)
        self.refunds[refund["id"]] = refund
        payment["amount_refunded"] += amount
        fully = payment["amount_refunded"] >= payment["amount"]
        payment["refund_status"] = "full" if fully else "partial"
        if fully:
            payment["status"] = "refunded"
        return refund

    def _return_refunded_amount(self, payment: dict[str, Any], amount: int) -> None:
        payment["amount_refunded"] -= amount
        payment["refund_status"] = "partial" if payment["amount_refunded"] else None
        if payment["status"] == "refunded":
            payment["status"] = "captured"

    def _replay_refund(self, key: str, payment_id: str, requested: int | None) -> dict[str, Any]:
        refund = self.refunds[self._refund_keys[key]]
        if refund["payment_id"] != payment_id or (requested is not None and requested != refund["amount"]):
            raise bad_request("The idempotency key was already used for a different refund request")
        return copy.deepcopy(refund)

    def _record_event(
        self,
        event_type: str,
        *,
        payment: dict[str, Any],
        order: dict[str, Any] | None = None,
        refund: dict[str, Any] | None = None,
    ) -> str:
        return self.outbox.record(
            entities.event_body(event_type, payment=payment, order=order, refund=refund)
        )
