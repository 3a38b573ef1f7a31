"""Where optional layers plug into the app: schema extensions, routes, middleware, background tasks.

Kept in one module so the app factory stays readable and each layer registers itself in one line.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from strawberry.extensions import SchemaExtension

from kapda_gql.runtime import Runtime


def schema_extensions(runtime: Runtime) -> list[type[SchemaExtension]]:
    from kapda_gql import observability
    from kapda_gql.graphql.inputs import InputHygiene
    from kapda_gql.graphql.limits import QueryLimits
    from kapda_gql.graphql.ratelimit import RateLimits, limiter_of

    observability.install_log_redaction()
    observability.init_sentry(runtime.settings)
    if not runtime.settings.rate_limits:
        # Not registered at all rather than registered and idle: its hooks ran on every request.
        return [observability.RequestObserver, QueryLimits, InputHygiene]
    limiter_of(runtime)  # made now, so the background tasks below can close and purge it
    # Order matters after parsing: hooks unwind last-first, so RateLimits counts the request before
    # QueryLimits refuses it, and an abusive client's refused bombs still use up its allowance.
    return [observability.RequestObserver, QueryLimits, RateLimits, InputHygiene]


def routes(runtime: Runtime) -> list[BaseRoute]:
    from kapda_gql.observability import metrics_route
    from kapda_gql.rest import webhooks

    extra: list[BaseRoute] = []
    if runtime.settings.metrics:
        extra.append(metrics_route(runtime))
    if not runtime.settings.production:
        from kapda_gql.devtools import media  # the demo catalog's pictures; no demo in production

        extra += media.routes()
    return [*webhooks.routes(runtime), *extra]


def outer_middleware(runtime: Runtime) -> list[Middleware]:
    """Outside the request-id middleware (nothing needs to run before the id exists yet)."""
    from kapda_gql.http.middleware import proxy_middleware

    return proxy_middleware(runtime.settings)


def middleware(runtime: Runtime) -> list[Middleware]:
    from kapda_gql.http.middleware import http_middleware

    return http_middleware(runtime.settings)


def background_tasks(runtime: Runtime) -> list[AbstractAsyncContextManager[Any]]:
    from kapda_gql.background import periodic
    from kapda_gql.checkout import reconcile
    from kapda_gql.core.ratelimit import FailOpen, PostgresRateLimiter
    from kapda_gql.graphql.ratelimit import EXTRA_KEY
    from kapda_gql.observability import closing
    from kapda_gql.payments import refunds, webhooks

    # The refund outbox and failed webhook events are retried by every worker process: refunds
    # are claimed with SKIP LOCKED, and handling an event twice is harmless (one order per session).
    tasks: list[AbstractAsyncContextManager[Any]] = [
        periodic("refund-outbox", 5, lambda: refunds.process_due(runtime.db.uow, runtime.gateway)),
        # After 20 attempts an event waits for an operator (`kapda-gql webhooks retry`).
        # The Razorpay poll: sessions are claimed with SKIP LOCKED, so every process takes a share.
        periodic(
            "razorpay-poll",
            runtime.settings.reconcile_seconds,
            lambda: reconcile.reconcile_payments(
                runtime.db.uow, runtime.gateway, every_seconds=runtime.settings.reconcile_seconds
            ),
        ),
        periodic(
            "webhook-retry",
            60,
            lambda: webhooks.retry_failed(runtime.db.uow, runtime.gateway, max_attempts=20),
        ),
    ]
    limiter = runtime.extras.get(EXTRA_KEY)
    if isinstance(limiter, FailOpen):
        tasks.append(closing(limiter))
        if isinstance(limiter.inner, PostgresRateLimiter):
            tasks.append(periodic("purge-rate-limit-buckets", 300, limiter.inner.purge))
    return tasks
