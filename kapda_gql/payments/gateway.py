"""Razorpay adapter: the only place that talks to the payment gateway.

Every call goes through the official ``razorpay`` SDK. The SDK is synchronous
and built on ``requests``, so calls run in worker threads with a hard
deadline, and its exceptions are turned into the service's own
``PaymentGatewayUnavailable`` (worth retrying) or ``PaymentGatewayRejected``
(not worth retrying).

Longer than ~400 lines for a stated reason: it is the one adapter of the money path's outside party
(orders, payments, captures, refunds, their answers and their failures), kept whole so that no
other module ever touches the SDK.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import http.cookiejar
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError
from requests.adapters import HTTPAdapter

from kapda_gql.domain.errors import PaymentGatewayRejected, PaymentGatewayUnavailable
from kapda_gql.logs import emit

logger = logging.getLogger("kapda_gql.payments")
_CALL_LINE = "razorpay %s %s %s -> %s in %.1f ms"

# Head-room over the HTTP timeout so that requests' own timeout normally fires
# first (and closes the socket) before the asyncio deadline abandons the thread.
_DEADLINE_MARGIN = 0.5
# Statuses where the same request may succeed later, so the caller may retry.
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_IDEMPOTENCY_HEADER = "X-Refund-Idempotency"
_RAZORPAY_API = "https://api.razorpay.com"  # the SDK's default base URL
# Ids end up in URL paths; anything but Razorpay's own shape could walk to another resource.
_ID_SHAPE = re.compile(r"(order|pay|rfnd)_[A-Za-z0-9]{1,40}")

_T = TypeVar("_T")

# The SDK's calls have threads of their own: on asyncio's default executor (a few threads) they
# would queue behind argon2 password hashing during a login storm. Shared by every gateway in the
# process; each thread keeps one SDK client per gateway.
_THREADS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="razorpay")


@dataclass(frozen=True, slots=True)
class GatewayOrder:
    id: str
    amount: int
    currency: str
    receipt: str | None
    status: str


@dataclass(frozen=True, slots=True)
class GatewayPayment:
    id: str
    order_id: str | None
    amount: int
    currency: str
    status: str  # created | authorized | captured | refunded | failed
    error_code: str | None = None
    error_description: str | None = None
    # When the customer paid (Razorpay's unix timestamp), which may be long before we hear of it.
    created_at: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayRefund:
    id: str
    payment_id: str
    amount: int
    currency: str
    status: str  # pending | processed | failed


class _TransportError(Exception):
    """A network failure, deliberately *not* a ``requests`` exception.

    The SDK catches ``requests`` timeouts and connection errors only to
    ``print`` them to stdout and re-raise; raising something else from the
    adapter keeps that noise out of the service's output.
    """


class _DeadlineAdapter(HTTPAdapter):
    """Applies a default (connect, read) timeout, which the SDK never passes,
    and remembers the last HTTP status so errors can be classified by it
    (the SDK's exceptions do not carry the status)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout
        self.last_status: int | None = None

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            response = super().send(
                request,
                stream=stream,
                timeout=timeout if timeout is not None else (self._timeout, self._timeout),
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _TransportError(type(exc).__name__) from exc
        self.last_status = response.status_code
        return response


class _Failure(Exception):
    """Carries the client-facing error out of the worker thread together with
    a log-only detail that must not reach API clients."""

    def __init__(self, error: PaymentGatewayUnavailable | PaymentGatewayRejected, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


@dataclass(slots=True)
class _ThreadClient:
    sdk: Any  # razorpay.Client; the SDK ships no type hints
    adapter: _DeadlineAdapter
    last_used: float = 0.0  # time.monotonic() at the end of the last call


# A pooled connection idle this long is closed rather than reused: a server (or a load balancer
# in between) ends idle keep-alive connections on its own clock, and a request sent just as it
# does so fails with a transport error although Razorpay never saw it (measured against the
# sandbox's uvicorn, 5 s: one call in twelve made at the edge). Below every common idle timeout
# (uvicorn 5 s, AWS load balancers 60 s, nginx 75 s); a busy worker never waits this long.
IDLE_CONNECTION_SECONDS = 4.0


@dataclass(frozen=True, slots=True)
class _Call:
    """What a call is, for logs: an operation name and a path without secrets."""

    operation: str
    method: str
    path: str


def _remember_sdk_version(sdk: Any) -> None:
    """The SDK looks its own version up in the installed packages' metadata for the User-Agent of
    every request (a scan of site-packages: ~7 % of a checkout's CPU under load). The installed
    version cannot change while the process runs, so this client asks once."""
    lookup = getattr(sdk, "_get_version", None)
    if callable(lookup):
        version = lookup()
        sdk._get_version = lambda: version


class PaymentGateway:
    """Async facade over one Razorpay account."""

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        base_url: str | None = None,
        timeout: float = 10.0,
        test_pause_after_capture: float = 0.0,
    ) -> None:
        if not key_id or not key_secret or not webhook_secret:
            raise ValueError("key_id, key_secret and webhook_secret are all required")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._key_id = key_id
        self._key_secret = key_secret
        self._webhook_secret = webhook_secret
        self._base_url = _normalise_base_url(base_url)
        self._timeout = timeout
        self._test_pause_after_capture = test_pause_after_capture
        # requests.Session is not guaranteed thread-safe and calls run on
        # executor threads, so each thread gets its own SDK client. The lock
        # only guards the bookkeeping list used by close(), not the calls.
        self._local = threading.local()
        self._clients: list[_ThreadClient] = []
        self._clients_lock = threading.Lock()

    @property
    def key_id(self) -> str:
        return self._key_id

    def sdk_sessions(self) -> list[Any]:
        """The HTTP sessions of the SDK clients made so far, one per worker thread that called Razorpay
        (how many there are, and that they keep no cookies, is part of what the gateway promises)."""
        with self._clients_lock:
            return [client.sdk.session for client in self._clients]

    def close(self) -> None:
        """Close the HTTP connection pools of every thread's client."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.sdk.session.close()

    # -- orders ---------------------------------------------------------------

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: dict[str, str] | None = None
    ) -> GatewayOrder:
        data = {"amount": amount, "currency": currency, "receipt": receipt, "notes": dict(notes or {})}
        raw = await self._call(
            _Call("create_order", "POST", "/v1/orders"),
            lambda sdk: sdk.order.create(data),
        )
        return _parse(raw, _order)

    async def fetch_order(self, order_id: str) -> GatewayOrder:
        _check_id(order_id, "order")
        raw = await self._call(
            _Call("fetch_order", "GET", f"/v1/orders/{order_id}"),
            lambda sdk: sdk.order.fetch(order_id, {}),
        )
        return _parse(raw, _order)

    # -- payments -------------------------------------------------------------

    async def fetch_payment(self, payment_id: str) -> GatewayPayment:
        _check_id(payment_id, "pay")
        raw = await self._call(
            _Call("fetch_payment", "GET", f"/v1/payments/{payment_id}"),
            lambda sdk: sdk.payment.fetch(payment_id, {}),
        )
        return _parse(raw, _payment)

    async def order_payments(self, order_id: str) -> list[GatewayPayment]:
        """Every payment attempt of an order, as Razorpay records them (the poll's source of truth)."""
        _check_id(order_id, "order")
        raw = await self._call(
            _Call("order_payments", "GET", f"/v1/orders/{order_id}/payments"),
            lambda sdk: sdk.order.payments(order_id, {}),
        )
        items = raw.get("items")
        if not isinstance(items, list):
            raise _unexpected_response()
        return [_parse(item, _payment) for item in items if isinstance(item, dict)]

    async def capture_payment(self, payment_id: str, *, amount: int, currency: str) -> GatewayPayment:
        _check_id(payment_id, "pay")
        # A fresh dict every call: the SDK writes into its mutable default argument.
        raw = await self._call(
            _Call("capture_payment", "POST", f"/v1/payments/{payment_id}/capture"),
            lambda sdk: sdk.payment.capture(payment_id, amount, {"currency": currency}),
        )
        if self._test_pause_after_capture:
            # The crash drill's window (KAPDA_TEST_PAUSE_AFTER_CAPTURE): captured, nothing written yet.
            await asyncio.sleep(self._test_pause_after_capture)
        return _parse(raw, _payment)

    # -- refunds --------------------------------------------------------------

    async def refund_payment(
        self,
        payment_id: str,
        *,
        amount: int,
        idempotency_key: str,
        notes: dict[str, str] | None = None,
    ) -> GatewayRefund:
        _check_id(payment_id, "pay")
        if not idempotency_key or not (idempotency_key.isascii() and idempotency_key.isprintable()):
            raise ValueError("idempotency_key must be non-empty printable ASCII (it is sent as a header)")
        data = {"amount": amount, "notes": dict(notes or {})}
        raw = await self._call(
            _Call("refund_payment", "POST", f"/v1/payments/{payment_id}/refund"),
            # The SDK's later `refund(payment_id, data, **kwargs)` definition
            # shadows the one taking `amount`, so the amount travels in data.
            lambda sdk: sdk.payment.refund(payment_id, data, headers={_IDEMPOTENCY_HEADER: idempotency_key}),
        )
        return _parse(raw, _refund)

    async def fetch_refund(self, refund_id: str) -> GatewayRefund:
        _check_id(refund_id, "rfnd")
        raw = await self._call(
            _Call("fetch_refund", "GET", f"/v1/refunds/{refund_id}"),
            lambda sdk: sdk.refund.fetch(refund_id, {}),
        )
        return _parse(raw, _refund)

    async def payment_refunds(self, payment_id: str, *, page: int = 100) -> list[GatewayRefund]:
        """Every refund Razorpay holds for a payment, asked for ``page`` at a time."""
        _check_id(payment_id, "pay")
        found: list[GatewayRefund] = []
        while True:
            query = {"count": page, "skip": len(found)}

            def invoke(sdk: Any, query: dict[str, int] = query) -> Any:
                return sdk.payment.fetch_multiple_refund(payment_id, query)

            raw = await self._call(
                _Call("payment_refunds", "GET", f"/v1/payments/{payment_id}/refunds"), invoke
            )
            items = raw.get("items")
            if not isinstance(items, list):
                raise _unexpected_response()
            fresh = [
                r for r in (_parse(item, _refund) for item in items) if r.id not in {f.id for f in found}
            ]
            found += fresh
            if len(items) < page or not fresh:  # the last page (or a server that ignores skip)
                return found

    # -- signatures -----------------------------------------------------------

    def verify_payment_signature(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        """Checkout's ``razorpay_signature``: HMAC-SHA256(key_secret, "order_id|payment_id")."""
        return _hmac_matches(self._key_secret, f"{order_id}|{payment_id}".encode(), signature)

    def verify_webhook_signature(self, body: bytes, signature: str | None) -> bool:
        """``X-Razorpay-Signature``: HMAC-SHA256(webhook_secret, raw body).

        Works on the raw bytes: re-serialising parsed JSON would change them.
        """
        return _hmac_matches(self._webhook_secret, body, signature)

    # -- plumbing -------------------------------------------------------------

    async def _call(self, call: _Call, invoke: Callable[[Any], Any]) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = "ok"
        try:
            async with asyncio.timeout(self._timeout + _DEADLINE_MARGIN):
                context = contextvars.copy_context()  # the request id travels into the thread's logs
                return await asyncio.get_running_loop().run_in_executor(
                    _THREADS, context.run, self._call_in_thread, invoke
                )
        except TimeoutError:
            outcome = "deadline exceeded"
            raise PaymentGatewayUnavailable(
                "The payment gateway did not answer in time; please retry"
            ) from None
        except _Failure as failure:
            outcome = failure.detail
            raise failure.error from None
        finally:
            line = (call.operation, call.method, call.path, outcome, (time.perf_counter() - started) * 1000)
            if outcome == "ok":
                emit(logger, _CALL_LINE, line, _WHERE)
            else:  # a failure's detail is the gateway's text: through the redaction, as any line
                logger.info(_CALL_LINE, *line)

    def _call_in_thread(self, invoke: Callable[[Any], Any]) -> dict[str, Any]:
        client = self._thread_client()
        client.adapter.last_status = None
        if time.monotonic() - client.last_used > IDLE_CONNECTION_SECONDS:
            client.adapter.close()  # its pools reconnect on demand
        try:
            result = invoke(client.sdk)
        except (BadRequestError, GatewayError, ServerError, requests.RequestException) as exc:
            # RequestException here means a response came back that was not JSON
            # (a proxy's HTML error page, say); its status still tells the story.
            raise self._failure_from_response(exc, client.adapter.last_status) from None
        except _TransportError as exc:
            raise _Failure(PaymentGatewayUnavailable(), f"transport {exc}") from None
        finally:
            client.last_used = time.monotonic()
        if not isinstance(result, dict):
            raise _Failure(_unexpected_response(), "non-object body")
        return result

    def _thread_client(self) -> _ThreadClient:
        client: _ThreadClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client()
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _new_client(self) -> _ThreadClient:
        adapter = _DeadlineAdapter(self._timeout)
        session = requests.Session()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Proxies from the environment (HTTPS_PROXY, NO_PROXY) are read once here, not on every
        # call: with trust_env requests re-scans the whole environment and looks for ~/.netrc per
        # request. The SDK passes its own CA bundle and credentials, so nothing else is lost.
        session.proxies.update(requests.utils.get_environ_proxies(self._base_url or _RAZORPAY_API))
        session.trust_env = False
        # Razorpay authenticates every call with the key; cookies a load balancer sets would only
        # grow a jar that requests walks on every call.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        options: dict[str, Any] = {"max_retries": 1}
        if self._base_url is not None:
            options["base_url"] = self._base_url
        sdk = razorpay.Client(session=session, auth=(self._key_id, self._key_secret), **options)
        # The SDK's retry sleeps in the calling thread; callers decide about retries.
        sdk.enable_retry(False)
        sdk.set_app_details({"title": "kapda-gql"})
        _remember_sdk_version(sdk)
        return _ThreadClient(sdk=sdk, adapter=adapter)

    def _failure_from_response(self, exc: Exception, status: int | None) -> _Failure:
        """Classify by HTTP status: the SDK's exception type alone is ambiguous
        (an unknown error code, or a non-JSON 404, both become ServerError)."""
        detail = f"http {status} {type(exc).__name__}"
        if status is None or status >= 500 or status < 400 or status in _RETRYABLE_STATUSES:
            return _Failure(PaymentGatewayUnavailable(), detail)
        description = self._redact(str(exc)) or None
        message = f"The payment gateway rejected the request: {description}" if description else None
        error = PaymentGatewayRejected(
            message,
            gatewayCode=_GATEWAY_CODES.get(type(exc), f"HTTP_{status}"),
            gatewayDescription=description,
        )
        return _Failure(error, detail)

    def _redact(self, text: str) -> str:
        for secret in (self._key_secret, self._webhook_secret):
            text = text.replace(secret, "[redacted]")
        return text


_GATEWAY_CODES: dict[type[Exception], str] = {
    BadRequestError: "BAD_REQUEST_ERROR",
    GatewayError: "GATEWAY_ERROR",
    ServerError: "SERVER_ERROR",
}


def _check_id(value: str, prefix: str) -> None:
    match = _ID_SHAPE.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group(1) != prefix:
        # What Razorpay itself answers for an id it does not know.
        raise PaymentGatewayRejected(
            "The payment gateway rejected the request: The id provided does not exist",
            gatewayCode="BAD_REQUEST_ERROR",
            gatewayDescription="The id provided does not exist",
        )


def _normalise_base_url(base_url: str | None) -> str | None:
    """The SDK appends ``/v1/...`` itself; tolerate the common ``.../v1`` mistake."""
    if base_url is None:
        return None
    url = base_url.rstrip("/")
    return url.removesuffix("/v1")


def _hmac_matches(secret: str, message: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()
    try:
        given = signature.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        return False
    return hmac.compare_digest(expected, given)


def _unexpected_response() -> PaymentGatewayUnavailable:
    return PaymentGatewayUnavailable("The payment gateway sent an unexpected response; please retry")


def _parse(raw: dict[str, Any], build: Callable[[dict[str, Any]], _T]) -> _T:
    try:
        return build(raw)
    except (KeyError, TypeError, ValueError):
        logger.exception("razorpay response did not have the expected shape")
        raise _unexpected_response() from None


def _order(raw: dict[str, Any]) -> GatewayOrder:
    return GatewayOrder(
        id=_str(raw, "id"),
        amount=_int(raw, "amount"),
        currency=_str(raw, "currency"),
        receipt=_opt_str(raw, "receipt"),
        status=_str(raw, "status"),
    )


def _payment(raw: dict[str, Any]) -> GatewayPayment:
    return GatewayPayment(
        id=_str(raw, "id"),
        order_id=_opt_str(raw, "order_id"),
        amount=_int(raw, "amount"),
        currency=_str(raw, "currency"),
        status=_str(raw, "status"),
        error_code=_opt_str(raw, "error_code"),
        error_description=_opt_str(raw, "error_description"),
        created_at=raw["created_at"] if isinstance(raw.get("created_at"), int) else None,
    )


def _refund(raw: dict[str, Any]) -> GatewayRefund:
    return GatewayRefund(
        id=_str(raw, "id"),
        payment_id=_str(raw, "payment_id"),
        amount=_int(raw, "amount"),
        currency=_str(raw, "currency"),
        status=_str(raw, "status"),
    )


def _str(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def _int(raw: Mapping[str, Any], key: str) -> int:
    value = raw[key]
    # bool is an int; money must never be a float.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


_WHERE = (__file__, PaymentGateway._call.__code__.co_firstlineno)
