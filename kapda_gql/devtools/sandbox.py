"""A local, in-memory stand-in for the Razorpay API, for development and tests.

It speaks enough of Razorpay's REST API (``/v1``) for the official SDK to work
against it unchanged, plus a few ``/sandbox`` routes that play the part of
the customer (paying through Checkout) and of the test author (injecting
faults, replaying webhooks). It is never meant to face the internet: the
``/sandbox`` routes need no credentials.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import json
import logging
import queue
import secrets
import socket
import string
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger("kapda_gql.devtools.sandbox")

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
PAY_OUTCOMES = frozenset({"authorized", "captured", "failed"})
REFUND_STATUSES = frozenset({"processed", "pending"})
SETTLED_REFUND_STATUSES = frozenset({"processed", "failed"})
CURRENCIES = frozenset({"INR", "USD", "EUR", "GBP", "SGD", "AED"})
MIN_ORDER_AMOUNT = 100
WEBHOOK_TIMEOUT_SECONDS = 5.0

_ID_ALPHABET = string.ascii_letters + string.digits
_ORDER_FIELDS = frozenset({"amount", "currency", "receipt", "notes", "partial_payment", "payment_capture"})
_NOT_FOUND = "The id provided does not exist"


def _new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))


def _now() -> int:
    return int(time.time())


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SandboxError(Exception):
    """A Razorpay-shaped API error."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        code: str = "BAD_REQUEST_ERROR",
        field: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code
        self.field = field
        self.metadata = metadata or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "description": self.description,
            "source": "NA",
            "step": "NA",
            "reason": "NA",
            "metadata": self.metadata,
        }
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def _bad_request(description: str, field: str | None = None) -> SandboxError:
    return SandboxError(400, description, field=field)


def _not_found() -> SandboxError:
    return SandboxError(404, _NOT_FOUND)


@dataclass(slots=True)
class _Fault:
    remaining: int
    status: int
    after_processing: bool


@dataclass(slots=True)
class SandboxEvent:
    """One webhook event, kept with the exact bytes that are (re)delivered."""

    id: str
    type: str
    created_at: int
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.type,
            "created_at": self.created_at,
            "payload": json.loads(self.body),
            "attempts": [dict(a) for a in self.attempts],
        }


class SandboxState:
    """The sandbox's whole world, shared by every request thread and loop.

    Every read or write of the entity dicts holds ``lock``; entities handed
    out are deep copies so callers can serialise them without the lock.
    Tests may read ``orders``/``payments``/``refunds`` directly, ideally
    through the helpers, which lock.
    """

    def __init__(
        self, *, key_id: str, key_secret: str, webhook_secret: str, webhook_url: str | None = None
    ) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: dict[str, SandboxEvent] = {}
        self._refund_keys: dict[str, str] = {}
        self._faults: dict[str, _Fault] = {}
        self.delay_seconds = 0.0
        self.deliver_webhooks = True
        self.refund_status = "processed"
        self.stopping = threading.Event()
        self._outbox: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None

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
            self._faults[route_name] = _Fault(times, status, after_processing)

    def take_fault(self, route_name: str) -> _Fault | None:
        with self.lock:
            fault = self._faults.get(route_name)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._faults[route_name]
            return _Fault(fault.remaining, fault.status, fault.after_processing)

    def reset(self, *, data: bool = False) -> None:
        """Put every knob back to its default; with ``data`` also forget all entities and events."""
        with self.lock:
            self._faults.clear()
            self.delay_seconds = 0.0
            self.deliver_webhooks = True
            self.refund_status = "processed"
            if data:
                for store in (self.orders, self.payments, self.refunds, self.events, self._refund_keys):
                    store.clear()

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

    def payments_for_order(self, order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(p) for p in self.payments.values() if p["order_id"] == order_id]

    def events_of_type(self, event_type: str) -> list[SandboxEvent]:
        with self.lock:
            return [e for e in self.events.values() if e.type == event_type]

    def list_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e.to_json() for e in self.events.values()]

    # -- orders ---------------------------------------------------------------

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        _reject_unknown_fields(body, _ORDER_FIELDS)
        amount = _require_amount(body.get("amount"), minimum=MIN_ORDER_AMOUNT)
        currency = _require_currency(body.get("currency"))
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise _bad_request("The receipt may not be greater than 40 characters.", "receipt")
        order: dict[str, Any] = {
            "id": _new_id("order"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": _require_notes(body.get("notes")),
            "payment_capture": bool(body.get("payment_capture", False)),
            "created_at": _now(),
        }
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
        return _collection(items)

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
            amount = _require_amount(amount, minimum=1)
        with self.lock:
            order = self._order(order_id)
            if order["status"] == "paid":
                raise _bad_request("Order has already been paid", "order_id")
            outcome = outcome or ("captured" if order["payment_capture"] else "authorized")
            if outcome not in PAY_OUTCOMES:
                raise _bad_request(f"outcome must be one of {sorted(PAY_OUTCOMES)}", "outcome")
            payment = self._new_payment(order, amount if amount is not None else order["amount"])
            order["attempts"] += 1
            order["status"] = "attempted"
            events = self._settle_new_payment(payment, order, outcome)
            result = copy.deepcopy(payment)
        self._dispatch(events, deliver)
        return result

    def capture(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        amount = _require_amount(body.get("amount"), minimum=1)
        currency = _require_currency(body.get("currency"))
        with self.lock:
            payment = self._payment(payment_id)
            if payment["status"] == "captured" or payment["captured"]:
                raise _bad_request("This payment has already been captured")
            if payment["status"] != "authorized":
                raise _bad_request(
                    "Only payments which have been authorized and not yet captured can be captured"
                )
            if amount != payment["amount"]:
                raise _bad_request("Capture amount must be equal to the amount authorized", "amount")
            if currency != payment["currency"]:
                raise _bad_request("Currency should be same as payment currency", "currency")
            events = self._capture_locked(payment)
            result = copy.deepcopy(payment)
        self._dispatch(events, None)
        return result

    # -- refunds --------------------------------------------------------------

    def refund(self, payment_id: str, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        requested = body.get("amount")
        if requested is not None:
            requested = _require_amount(requested, minimum=1)
        notes = _require_notes(body.get("notes"))
        with self.lock:
            payment = self._payment(payment_id)
            if idempotency_key and idempotency_key in self._refund_keys:
                return self._replay_refund(idempotency_key, payment_id, requested)
            unrefunded = payment["amount"] - payment["amount_refunded"]
            if payment["status"] not in {"captured", "refunded"}:
                raise _bad_request("The payment status should be captured for action to be taken")
            if unrefunded <= 0:
                raise _bad_request("The payment has been fully refunded already")
            amount = unrefunded if requested is None else requested
            if amount > unrefunded:
                raise _bad_request(
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
            raise _bad_request(f"status must be one of {sorted(SETTLED_REFUND_STATUSES)}", "status")
        with self.lock:
            refund = self._refund(refund_id)
            if refund["status"] != "pending":
                raise _bad_request(f"The refund is already {refund['status']}")
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
        return _collection(items)

    # -- webhooks -------------------------------------------------------------

    def webhook_request(self, event_id: str) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers Razorpay would POST for this event.

        Lets in-process tests feed the webhook route without real HTTP.
        """
        with self.lock:
            event = self.events.get(event_id)
            if event is None:
                raise _not_found()
            body = event.body
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": _hmac_hex(self.webhook_secret, body),
            "X-Razorpay-Event-Id": event_id,
        }
        return body, headers

    def deliver(self, event_id: str, *, mode: str = "manual") -> int | None:
        """POST the event to ``webhook_url`` now; the service's status, or None if unreachable."""
        body, headers = self.webhook_request(event_id)
        url = self.webhook_url
        if not url:
            raise SandboxError(409, "No webhook_url is configured")
        status: int | None = None
        error: str | None = None
        try:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS, trust_env=False) as client:
                status = client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
            logger.warning("sandbox webhook %s to %s failed: %s", event_id, url, error)
        with self.lock:
            event = self.events.get(event_id)  # gone if reset(data=True) ran meanwhile
            if event is not None:
                event.attempts.append({"at": time.time(), "mode": mode, "status": status, "error": error})
        return status

    def close(self) -> None:
        """Stop the background delivery thread (pending deliveries are dropped)."""
        self.stopping.set()
        worker, self._worker = self._worker, None
        if worker is not None:
            self._outbox.put(None)
            worker.join(timeout=WEBHOOK_TIMEOUT_SECONDS + 1)

    def _dispatch(self, event_ids: list[str], deliver: bool | None) -> None:
        # Delivery happens on a worker thread so the request that caused the
        # event is never held up by (or deadlocked on) the receiving service.
        if deliver is None:
            deliver = self.deliver_webhooks
        if not deliver or not self.webhook_url or not event_ids:
            return
        self._ensure_worker()
        for event_id in event_ids:
            self._outbox.put(event_id)

    def _ensure_worker(self) -> None:
        with self.lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(
                target=self._deliver_forever, name="sandbox-webhooks", daemon=True
            )
            self._worker.start()

    def _deliver_forever(self) -> None:
        while (event_id := self._outbox.get()) is not None:
            try:
                self.deliver(event_id, mode="auto")
            except SandboxError:
                logger.warning("sandbox webhook %s not delivered: no webhook_url", event_id)

    # -- internals (call with the lock held) ----------------------------------

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise _not_found()
        return order

    def _payment(self, payment_id: str) -> dict[str, Any]:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise _not_found()
        return payment

    def _refund(self, refund_id: str) -> dict[str, Any]:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise _not_found()
        return refund

    def _new_payment(self, order: dict[str, Any], amount: int) -> dict[str, Any]:
        payment: dict[str, Any] = {
            "id": _new_id("pay"),
            "entity": "payment",
            "amount": amount,
            "currency": order["currency"],
            "status": "created",
            "order_id": order["id"],
            "invoice_id": None,
            "international": False,
            "method": "card",
            "amount_refunded": 0,
            "refund_status": None,
            "captured": False,
            "description": None,
            "card_id": None,
            "bank": None,
            "wallet": None,
            "vpa": None,
            "email": "customer@example.com",
            "contact": "+919900000000",
            "notes": copy.deepcopy(order["notes"]),
            "fee": None,
            "tax": None,
            "error_code": None,
            "error_description": None,
            "error_source": None,
            "error_step": None,
            "error_reason": None,
            "acquirer_data": {},
            "created_at": _now(),
        }
        self.payments[payment["id"]] = payment
        return payment

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
        refund: dict[str, Any] = {
            "id": _new_id("rfnd"),
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": payment["id"],
            "notes": notes,
            "receipt": None,
            "acquirer_data": {"arn": None},
            "created_at": _now(),
            "batch_id": None,
            "status": self.refund_status,
            "speed_processed": "normal",
            "speed_requested": "normal",
        }
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
            raise _bad_request("The idempotency key was already used for a different refund request")
        return copy.deepcopy(refund)

    def _record_event(
        self,
        event_type: str,
        *,
        payment: dict[str, Any],
        order: dict[str, Any] | None = None,
        refund: dict[str, Any] | None = None,
    ) -> str:
        payload: dict[str, Any] = {"payment": {"entity": copy.deepcopy(payment)}}
        contains = ["payment"]
        if order is not None:
            payload["order"] = {"entity": _public_order(order)}
            contains.append("order")
        if refund is not None:
            payload["refund"] = {"entity": copy.deepcopy(refund)}
            contains.insert(0, "refund")
        created_at = _now()
        body = {
            "entity": "event",
            "account_id": "acc_sandbox",
            "event": event_type,
            "contains": contains,
            "payload": payload,
            "created_at": created_at,
        }
        event = SandboxEvent(
            id=_new_id("evt"),
            type=event_type,
            created_at=created_at,
            body=json.dumps(body, separators=(",", ":")).encode(),
        )
        self.events[event.id] = event
        return event.id


def _public_order(order: dict[str, Any]) -> dict[str, Any]:
    # payment_capture is an input to order creation, not part of the entity.
    return {k: copy.deepcopy(v) for k, v in order.items() if k != "payment_capture"}


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


def _reject_unknown_fields(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad_request(f"{', '.join(unknown)} is/are not required and should not be sent", unknown[0])


def _require_amount(value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_request("The amount must be an integer.", "amount")
    if value < minimum:
        raise _bad_request(f"The amount must be at least {minimum}.", "amount")
    return value


def _require_currency(value: Any) -> str:
    if not isinstance(value, str) or value not in CURRENCIES:
        raise _bad_request("The currency provided is invalid.", "currency")
    return value


def _require_notes(value: Any) -> dict[str, str]:
    if value is None or value == []:
        # PHP-style clients send [] for an empty map; Razorpay accepts it.
        return {}
    if not isinstance(value, dict) or len(value) > 15:
        raise _bad_request("The notes should be a map of at most 15 keys.", "notes")
    notes: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float) or len(str(item)) > 256:
            raise _bad_request("Each note must be a string of at most 256 characters.", "notes")
        notes[str(key)] = str(item)
    return notes


# -- HTTP ---------------------------------------------------------------------

_Handler = Callable[[Request, dict[str, Any]], dict[str, Any]]


def create_sandbox_app(
    *, key_id: str, key_secret: str, webhook_secret: str, webhook_url: str | None = None
) -> Starlette:
    """The sandbox as an ASGI app; its state is at ``app.state.sandbox``."""
    state = SandboxState(
        key_id=key_id, key_secret=key_secret, webhook_secret=webhook_secret, webhook_url=webhook_url
    )
    return build_sandbox_app(state)


def build_sandbox_app(state: SandboxState) -> Starlette:
    """The sandbox app over an existing state (so a server can keep a handle on it)."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(state.close)

    def v1(route_name: str, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        return _v1_endpoint(state, route_name, handler)

    routes = [
        Route("/v1/orders", v1("create_order", lambda _, b: state.create_order(b)), methods=["POST"]),
        Route("/v1/orders/{id}", v1("fetch_order", lambda r, _: state.get_order(_id(r))), methods=["GET"]),
        Route(
            "/v1/orders/{id}/payments",
            v1("order_payments", lambda r, _: state.order_payments(_id(r))),
            methods=["GET"],
        ),
        Route(
            "/v1/payments/{id}", v1("fetch_payment", lambda r, _: state.get_payment(_id(r))), methods=["GET"]
        ),
        Route(
            "/v1/payments/{id}/capture",
            v1("capture", lambda r, b: state.capture(_id(r), b)),
            methods=["POST"],
        ),
        Route(
            "/v1/payments/{id}/refund",
            v1("refund", lambda r, b: state.refund(_id(r), b, r.headers.get("x-refund-idempotency"))),
            methods=["POST"],
        ),
        Route(
            "/v1/payments/{id}/refunds",
            v1("payment_refunds", lambda r, _: state.payment_refunds(_id(r))),
            methods=["GET"],
        ),
        Route("/v1/refunds/{id}", v1("fetch_refund", lambda r, _: state.get_refund(_id(r))), methods=["GET"]),
        Route("/sandbox/orders/{id}/pay", _pay_endpoint(state), methods=["POST"]),
        Route("/sandbox/refunds/{id}/settle", _settle_endpoint(state), methods=["POST"]),
        Route("/sandbox/events", _events_endpoint(state), methods=["GET"]),
        Route("/sandbox/events/{id}/deliver", _deliver_endpoint(state), methods=["POST"]),
        Route("/sandbox/faults", _faults_endpoint(state), methods=["GET", "POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_exception},
    )
    app.state.sandbox = state
    return app


def _id(request: Request) -> str:
    return str(request.path_params["id"])


async def _http_exception(_: Request, exc: Exception) -> Response:
    # The SDK parses every error body as JSON, so even unknown routes must answer in Razorpay's shape.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    description = "The requested URL was not found on the server." if status == 404 else str(exc)
    return SandboxError(status, description).response()


def _v1_endpoint(
    state: SandboxState, route_name: str, handler: _Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # Read the body before the delay: a client that gives up meanwhile would leave it unreadable.
        raw = await request.body()
        await _simulate_latency(state)
        if not _authenticated(state, request):
            return SandboxError(401, "Authentication failed").response()
        fault = state.take_fault(route_name)
        if fault is not None and not fault.after_processing:
            return _fault_response(fault)
        try:
            result = handler(request, _parse_json(raw))
        except SandboxError as exc:
            return exc.response()
        if fault is not None:
            return _fault_response(fault)
        return JSONResponse(result)

    return endpoint


async def _simulate_latency(state: SandboxState) -> None:
    # Waiting on the stop event (set from another thread) lets stopping the server
    # cut a long delay short instead of uvicorn cancelling the request with a traceback.
    if state.delay_seconds > 0:
        await asyncio.to_thread(state.stopping.wait, state.delay_seconds)


def _authenticated(state: SandboxState, request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    key_id, sep, key_secret = decoded.partition(":")
    return bool(sep) and state.check_credentials(key_id, key_secret)


def _fault_response(fault: _Fault) -> Response:
    code = "SERVER_ERROR" if fault.status >= 500 else "BAD_REQUEST_ERROR"
    description = "The server encountered an error. The incident has been reported to admins."
    return SandboxError(fault.status, description, code=code).response()


async def _json_body(request: Request) -> dict[str, Any]:
    return _parse_json(await request.body())


def _parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad_request("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object")
    return body


def _pay_endpoint(state: SandboxState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _json_body(request)
            deliver = body.get("deliver_webhooks")
            if deliver is not None and not isinstance(deliver, bool):
                raise _bad_request("deliver_webhooks must be a boolean", "deliver_webhooks")
            payment = state.pay(
                _id(request), outcome=body.get("outcome"), amount=body.get("amount"), deliver=deliver
            )
        except SandboxError as exc:
            return exc.response()
        if payment["status"] == "failed":
            return _checkout_failure(payment)
        order_id = payment["order_id"]
        return JSONResponse(
            {
                "razorpay_payment_id": payment["id"],
                "razorpay_order_id": order_id,
                "razorpay_signature": _hmac_hex(state.key_secret, f"{order_id}|{payment['id']}".encode()),
            }
        )

    return endpoint


def _checkout_failure(payment: dict[str, Any]) -> Response:
    """What Checkout's ``payment.failed`` handler receives (``response.error``)."""
    error = {
        "code": payment["error_code"],
        "description": payment["error_description"],
        "source": payment["error_source"],
        "step": payment["error_step"],
        "reason": payment["error_reason"],
        "metadata": {"payment_id": payment["id"], "order_id": payment["order_id"]},
    }
    return JSONResponse({"error": error, "razorpay_payment_id": payment["id"]}, status_code=402)


def _settle_endpoint(state: SandboxState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _json_body(request)
            return JSONResponse(state.settle_refund(_id(request), str(body.get("status", "processed"))))
        except SandboxError as exc:
            return exc.response()

    return endpoint


def _events_endpoint(state: SandboxState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        wanted = request.query_params.get("event")
        events = [e for e in state.list_events() if wanted is None or e["event"] == wanted]
        return JSONResponse({"entity": "collection", "count": len(events), "items": events})

    return endpoint


def _deliver_endpoint(state: SandboxState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        event_id = _id(request)
        try:
            # Off the loop: the receiving service may be served by this very loop.
            status = await asyncio.to_thread(state.deliver, event_id)
        except SandboxError as exc:
            return exc.response()
        return JSONResponse({"event_id": event_id, "status": status})

    return endpoint


def _faults_endpoint(state: SandboxState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                _apply_knobs(state, await _json_body(request))
            except SandboxError as exc:
                return exc.response()
        return JSONResponse(state.knobs())

    return endpoint


def _apply_knobs(state: SandboxState, body: dict[str, Any]) -> None:
    """Apply ``POST /sandbox/faults``; ``reset`` first, so it can be combined with new knobs."""
    try:
        if body.get("reset"):
            state.reset(data=body.get("reset") == "data")
        faults = body.get("fail_next") or []
        for fault in [faults] if isinstance(faults, dict) else faults:
            state.fail_next(
                str(fault["route"]),
                int(fault.get("times", 1)),
                int(fault.get("status", 500)),
                after_processing=bool(fault.get("after_processing", False)),
            )
        if "delay_seconds" in body:
            state.delay_seconds = max(float(body["delay_seconds"]), 0.0)
        if "deliver_webhooks" in body:
            state.deliver_webhooks = bool(body["deliver_webhooks"])
        if "webhook_url" in body:
            state.webhook_url = body["webhook_url"] or None
        if "refund_status" in body:
            if body["refund_status"] not in REFUND_STATUSES:
                raise ValueError(f"refund_status must be one of {sorted(REFUND_STATUSES)}")
            state.refund_status = str(body["refund_status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_request(f"Invalid sandbox knob: {exc}") from None


# -- server runner ------------------------------------------------------------


class SandboxServer:
    """Serves the sandbox with uvicorn on a daemon thread, for dev servers and tests."""

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._state = SandboxState(
            key_id=key_id, key_secret=key_secret, webhook_secret=webhook_secret, webhook_url=webhook_url
        )
        self._app = build_sandbox_app(self._state)
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    @property
    def state(self) -> SandboxState:
        return self._state

    @property
    def app(self) -> Starlette:
        return self._app

    @property
    def webhook_url(self) -> str | None:
        return self._state.webhook_url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._state.webhook_url = url

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the sandbox server was never started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` must be: the SDK appends ``/v1/...`` itself."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        self._state.stopping.clear()
        config = uvicorn.Config(
            self._app,
            host=self._host,
            port=self._port,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            # A request parked in delay_seconds should not hold up stopping the sandbox.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="razorpay-sandbox", daemon=True)
        self._thread.start()
        self._wait_until_serving(timeout)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        self._state.stopping.set()
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        self._state.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _wait_until_serving(self, timeout: float) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            raise RuntimeError("the sandbox server is not started")
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
        # uvicorn binds the port itself (port 0 included); ask it which one it got.
        self._bound_port = int(server.servers[0].sockets[0].getsockname()[1])
        with socket.create_connection((self._host, self._bound_port), timeout=timeout):
            pass
