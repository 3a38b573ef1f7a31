"""The sandbox's HTTP face: Razorpay's ``/v1`` routes for the SDK, ``/sandbox`` routes for people.

The ``/sandbox`` routes play the customer (paying through Checkout), the bank
(settling refunds) and the test author (faults, latency, webhook redelivery).
They need no credentials: the sandbox never faces the internet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kapda_gql.devtools.sandbox.entities import REFUND_STATUSES
from kapda_gql.devtools.sandbox.errors import SandboxError, bad_request
from kapda_gql.devtools.sandbox.state import Fault, SandboxState
from kapda_gql.devtools.sandbox.webhooks import hmac_hex

_Handler = Callable[[Request, dict[str, Any]], dict[str, Any]]
_Endpoint = Callable[[Request], Awaitable[Response]]


def build_sandbox_app(state: SandboxState) -> Starlette:
    """The sandbox app over a state (so a server can keep a handle on it)."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(state.close)

    def v1(route_name: str, handler: _Handler) -> _Endpoint:
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
        Route("/sandbox/webhooks", _webhooks_endpoint(state), methods=["GET"]),
        Route("/sandbox/webhooks/redeliver", _redeliver_endpoint(state), methods=["POST"]),
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


def _error(exc: SandboxError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_exception(_: Request, exc: Exception) -> Response:
    # The SDK parses every error body as JSON, so even unknown routes must answer in Razorpay's shape.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    description = "The requested URL was not found on the server." if status == 404 else str(exc)
    return _error(SandboxError(status, description))


def _v1_endpoint(state: SandboxState, route_name: str, handler: _Handler) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        # Read the body before the delay: a client that gives up meanwhile would leave it unreadable.
        raw = await request.body()
        await _simulate_latency(state)
        if not _authenticated(state, request):
            return _error(SandboxError(401, "Authentication failed"))
        fault = state.take_fault(route_name)
        if fault is not None and not fault.after_processing:
            return _fault_response(fault)
        try:
            result = handler(request, _parse_json(raw))
        except SandboxError as exc:
            return _error(exc)
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


def _fault_response(fault: Fault) -> Response:
    code = "SERVER_ERROR" if fault.status >= 500 else "BAD_REQUEST_ERROR"
    description = "The server encountered an error. The incident has been reported to admins."
    return _error(SandboxError(fault.status, description, code=code))


async def _json_body(request: Request) -> dict[str, Any]:
    return _parse_json(await request.body())


def _parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def _pay_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _json_body(request)
            deliver = body.get("deliver_webhooks")
            if deliver is not None and not isinstance(deliver, bool):
                raise bad_request("deliver_webhooks must be a boolean", "deliver_webhooks")
            payment = state.pay(
                _id(request), outcome=body.get("outcome"), amount=body.get("amount"), deliver=deliver
            )
        except SandboxError as exc:
            return _error(exc)
        if payment["status"] == "failed":
            return _checkout_failure(payment)
        order_id = payment["order_id"]
        return JSONResponse(
            {
                "razorpay_payment_id": payment["id"],
                "razorpay_order_id": order_id,
                "razorpay_signature": hmac_hex(state.key_secret, f"{order_id}|{payment['id']}".encode()),
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


def _settle_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _json_body(request)
            return JSONResponse(state.settle_refund(_id(request), str(body.get("status", "processed"))))
        except SandboxError as exc:
            return _error(exc)

    return endpoint


def _events_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        wanted = request.query_params.get("event")
        events = [e for e in state.list_events() if wanted is None or e["event"] == wanted]
        return JSONResponse({"entity": "collection", "count": len(events), "items": events})

    return endpoint


def _deliver_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        event_id = _id(request)
        try:
            # Off the loop: the receiving service may be served by this very loop.
            status = await asyncio.to_thread(state.deliver, event_id)
        except SandboxError as exc:
            return _error(exc)
        return JSONResponse({"event_id": event_id, "status": status})

    return endpoint


def _webhooks_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        deliveries = state.outbox.deliveries()
        wanted = request.query_params.get("delivery")
        if wanted is not None:
            deliveries["items"] = [d for d in deliveries["items"] if d["delivery"] == wanted]
            deliveries["count"] = len(deliveries["items"])
        return JSONResponse(deliveries)

    return endpoint


def _redeliver_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _json_body(request)
            event_id = body.get("event_id")
            if event_id is not None and not isinstance(event_id, str):
                raise bad_request("event_id must be a string", "event_id")
            if state.webhook_url is None:
                raise SandboxError(409, "No webhook_url is configured")
            # Off the loop, as for a single delivery.
            results = await asyncio.to_thread(state.redeliver, event_id)
        except SandboxError as exc:
            return _error(exc)
        return JSONResponse({"count": len(results), "items": results})

    return endpoint


def _faults_endpoint(state: SandboxState) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                _apply_knobs(state, await _json_body(request))
            except SandboxError as exc:
                return _error(exc)
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
        raise bad_request(f"Invalid sandbox knob: {exc}") from None
