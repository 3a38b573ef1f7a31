"""What the operator sees: Prometheus metrics at /metrics, secret-free logs, optional Sentry.

Other modules record their outcomes with one call (``record_checkout("completed")``,
``record_webhook("payment.captured", "processed")``); the HTTP middleware records every request.
Label values that come from clients are bounded, so no request can grow the metric set.

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, before the
workers start) and /metrics adds up every worker's numbers.
"""

from __future__ import annotations

import hmac
import importlib
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from graphql import FieldNode, InlineFragmentNode, get_operation_ast
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.extensions import SchemaExtension

from kapda_gql.config import Settings
from kapda_gql.runtime import Runtime

log = logging.getLogger("kapda_gql.observability")

REQUESTS = Counter(
    "kapda_requests_total",
    "Requests served, by GraphQL operation (or route) and HTTP status",
    ["operation", "status"],
)
LATENCY = Histogram(
    "kapda_request_duration_seconds",
    "Time to answer a request, by GraphQL operation (or route)",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ERRORS = Counter("kapda_graphql_errors_total", "Errors answered, by API error code", ["code"])
CHECKOUTS = Counter("kapda_checkout_outcomes_total", "Checkout attempts, by outcome", ["outcome"])
WEBHOOKS = Counter(
    "kapda_webhook_events_total", "Razorpay webhook events, by type and outcome", ["event_type", "outcome"]
)
CATALOG_CACHE = Counter(
    "kapda_catalog_cache_total",
    "Shared catalog-cache lookups (graphql/transport/response_cache.py), by outcome",
    ["outcome"],
)
CATALOG_CACHE_HIT = CATALOG_CACHE.labels("hit")
CATALOG_CACHE_MISS = CATALOG_CACHE.labels("miss")
RATE_LIMITED = Counter("kapda_rate_limited_total", "Requests refused by a rate limit, by rule", ["rule"])
DB_POOL = Gauge(
    "kapda_db_pool_connections",
    "Database pool connections: size, checked_out, overflow",
    ["state"],
    multiprocess_mode="livesum",
)
RECONCILE_DISAGREEMENTS = Gauge(
    "kapda_reconcile_disagreements",
    "Disagreements the last `kapda-gql reconcile` found (0: stock, money and commissions agree)",
    multiprocess_mode="mostrecent",
)

_LABEL_RE = re.compile(r"^[A-Za-z0-9_.:,/-]{1,80}$")
MAX_LABEL_VALUES = 200


class _Bounded:
    """At most MAX_LABEL_VALUES distinct values per label; the rest are counted as "other"."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def __call__(self, label: str, value: str | None) -> str:
        if not value or not _LABEL_RE.match(value):
            return "other" if value else "none"
        with self.lock:
            values = self.seen.setdefault(label, set())
            if value in values:
                return value
            if len(values) >= MAX_LABEL_VALUES:
                return "other"
            values.add(value)
            return value


bounded = _Bounded()


# (operation, status) -> the request counter's and the latency histogram's children: looked up
# once, not per request (each lookup takes the metric's lock). What `bounded` answered for a value
# never changes afterwards, so the answer can be kept with them.
_REQUEST_SERIES: dict[tuple[str, int], tuple[Any, Any]] = {}
_MAX_REQUEST_SERIES = 4096


def record_request(operation: str, status: int, seconds: float, error_codes: Iterable[str] = ()) -> None:
    series = _REQUEST_SERIES.get((operation, status))
    if series is None:
        op = bounded("operation", operation)
        series = (REQUESTS.labels(op, str(status)), LATENCY.labels(op))
        if len(_REQUEST_SERIES) < _MAX_REQUEST_SERIES:
            _REQUEST_SERIES[(operation, status)] = series
    series[0].inc()
    series[1].observe(seconds)
    for code in error_codes:
        ERRORS.labels(bounded("code", code)).inc()


def record_checkout(outcome: str) -> None:
    """E.g. "completed", "replayed", "insufficient_stock", "payment_failed", "expired"."""
    CHECKOUTS.labels(bounded("checkout", outcome)).inc()


def record_webhook(event_type: str, outcome: str) -> None:
    """E.g. ("payment.captured", "processed"), ("unknown", "bad_signature"), (…, "duplicate")."""
    WEBHOOKS.labels(bounded("event_type", event_type), bounded("webhook_outcome", outcome)).inc()


def record_rate_limited(rule: str) -> None:
    RATE_LIMITED.labels(bounded("rule", rule)).inc()


def update_pool(runtime: Runtime) -> None:
    try:
        status = runtime.db.pool_status()
    except Exception:  # a pool that cannot report must not break the scrape
        log.debug("pool status unavailable", exc_info=True)
        return
    for state in ("size", "checked_out", "overflow"):
        value = status.get(state)
        if isinstance(value, int):
            DB_POOL.labels(state).set(value)


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_route(runtime: Runtime) -> Route:
    token = runtime.settings.metrics_token

    async def metrics(request: Request) -> Response:
        if token is None and runtime.settings.production:
            # Operation names, sales volume and the runtime are nobody's business without the token.
            return JSONResponse({"error": "not found"}, status_code=404)
        if token is not None:
            offered = request.headers.get("authorization", "")
            if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        update_pool(runtime)
        body, content_type = render_metrics()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    return Route("/metrics", metrics, methods=["GET"])


# --- what the GraphQL layer tells the access log ---------------------------------------------

_OPERATION_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_META_FIELDS = frozenset({"__typename", "__schema", "__type"})


def operation_label(execution_context: Any) -> str | None:
    """`query:products`, `mutation:login`: the root field, so the label set is bounded by the schema.

    Several root fields are `<kind>:multiple` (their combinations would not be bounded), fields the
    schema lacks `<kind>:invalid` — including made-up ``__anything`` names: only the meta fields
    GraphQL itself defines are labels, so no client text ever becomes one.
    """
    document = execution_context.graphql_document
    if document is None:
        return None
    operation = get_operation_ast(document, execution_context.operation_name)
    if operation is None:
        return None
    root = execution_context.schema._schema.get_root_type(operation.operation)
    names: set[str] = set()
    stack = [operation.selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            else:
                names.add("...")
    kind = operation.operation.value
    if root is None or not all(n in root.fields or n in _META_FIELDS for n in names if n != "..."):
        return f"{kind}:invalid"
    if len(names) != 1 or "..." in names:
        return f"{kind}:multiple"
    return f"{kind}:{names.pop()}"


class RequestObserver(SchemaExtension):
    """Leaves the operation and user on the request's scope state for the access log and metrics."""

    def on_operation(self) -> Iterator[None]:
        state = _scope_state(self.execution_context.context)
        if state is not None:
            principal = getattr(self.execution_context.context, "principal", None)
            if principal is not None:
                state["user_id"] = principal.user_id
        yield

    def on_parse(self) -> Iterator[None]:
        try:
            yield
        finally:
            # Also when a later hook refuses the document: the log still says what was asked.
            self._label()

    def _label(self) -> None:
        ctx = self.execution_context
        state = _scope_state(ctx.context)
        if state is None or ctx.graphql_document is None:
            return
        label = operation_label(ctx)
        if label is not None:
            state["graphql_operation"] = label
        try:
            name = ctx.operation_name
        except Exception:  # several anonymous operations: no name to give
            name = None
        if isinstance(name, str) and _OPERATION_NAME_RE.match(name):
            state["operation_name"] = name


def _scope_state(context: Any) -> dict[str, Any] | None:
    request = getattr(context, "request", None)
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


# --- logs without secrets --------------------------------------------------------------------

_SECRET_PATTERNS = (
    # JWTs (ours and anyone's): header.payload.signature, base64url.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[token]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (
        re.compile(
            r"(?i)([\"']?(?:password|passwd|secret|token|authorization|api[_-]?key)[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
        ),
        r"\1[redacted]",
    ),
)
_installed = False
_install_lock = threading.Lock()


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def install_log_redaction() -> None:
    """A last line of defence: whatever a library logs, tokens and passwords leave as [redacted].

    Installed as the record factory, so it covers every handler, including ones added later.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the logger's problem, not ours
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


# --- Sentry ----------------------------------------------------------------------------------

_sentry_started = False
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "x-razorpay-signature", "proxy-authorization"})


def _scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}
    for entry in (event.get("logentry"), event.get("message")):
        if isinstance(entry, dict) and isinstance(entry.get("message"), str):
            entry["message"] = redact(entry["message"])
    return event


def init_sentry(settings: Settings) -> bool:
    """Report unexpected errors to Sentry when KAPDA_SENTRY_DSN is set and sentry-sdk is installed.

    The unexpected-error log line (with the traceback and request id) becomes the Sentry event.
    """
    global _sentry_started
    if not settings.sentry_dsn or _sentry_started:
        return _sentry_started
    try:
        # Optional: imported by name so neither the package nor its stubs are required.
        sentry_sdk: Any = importlib.import_module("sentry_sdk")
    except ImportError:
        log.warning("KAPDA_SENTRY_DSN is set but sentry-sdk is not installed; errors go to the log only")
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env,
        send_default_pii=False,
        max_request_body_size="never",  # bodies carry passwords (login) and payment ids
        traces_sample_rate=0.0,
        before_send=_scrub_event,
    )
    _sentry_started = True
    return True


# --- background housekeeping -----------------------------------------------------------------


__all__ = [
    "RequestObserver",
    "closing",
    "init_sentry",
    "install_log_redaction",
    "metrics_route",
    "operation_label",
    "record_checkout",
    "record_rate_limited",
    "record_request",
    "record_webhook",
    "redact",
]


@asynccontextmanager
async def closing(resource: Any) -> AsyncIterator[None]:
    """Close ``resource`` (anything with ``aclose``) when the app stops."""
    try:
        yield
    finally:
        await resource.aclose()
