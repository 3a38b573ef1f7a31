"""The app factory: one Starlette app with /graphql, the REST routes and the middleware stack."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from kapda_gql.config import Settings
from kapda_gql.db.engine import Bounds, database_url, make_engine
from kapda_gql.db.uow import Database
from kapda_gql.graphql import graphiql
from kapda_gql.graphql.schema import build_schema
from kapda_gql.graphql.transport.fast import FastPathMiddleware
from kapda_gql.graphql.view import GraphQLView
from kapda_gql.payments.gateway import PaymentGateway
from kapda_gql.rest.health import healthz, readyz
from kapda_gql.runtime import Runtime

log = logging.getLogger("kapda_gql")

# Hooks that later layers (webhooks, hardening) use to add routes, middleware,
# schema extensions and background tasks without the factory knowing them by name.
RouteHook = Callable[[Runtime], list[Route]]
MiddlewareHook = Callable[[Runtime], list[Middleware]]


def build_runtime(settings: Settings) -> Runtime:
    bounds = Bounds(
        connect=settings.db_connect_timeout_seconds,
        statement=settings.db_statement_timeout_seconds,
        idle_in_transaction=settings.db_idle_in_transaction_timeout_seconds,
        checkout=settings.db_pool_timeout_seconds,
    )
    engine = make_engine(
        database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        bounds=bounds,
    )
    gateway = PaymentGateway(
        key_id=settings.razorpay_key_id,
        key_secret=settings.razorpay_key_secret,
        webhook_secret=settings.razorpay_webhook_secret,
        base_url=settings.razorpay_base_url,
        timeout=settings.razorpay_timeout_seconds,
        test_pause_after_capture=settings.test_pause_after_capture_seconds,
    )
    if settings.test_pause_after_capture_seconds:
        log.warning(
            "test hook on: every checkout sleeps %.1f s between capture and order (KAPDA_TEST_PAUSE_AFTER_CAPTURE)",
            settings.test_pause_after_capture_seconds,
        )
    return Runtime(settings=settings, db=Database(engine, checkout_timeout=bounds.checkout), gateway=gateway)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    runtime = runtime or build_runtime(settings)
    from kapda_gql import extensions

    schema = build_schema(extensions.schema_extensions(runtime), batching=settings.batching)
    view = GraphQLView(schema, runtime)
    routes: list[Any] = [
        # Every method reaches the view, so a PUT is answered 405 in the API's error shape.
        Route("/graphql", view, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *extensions.routes(runtime),
        *(graphiql.routes() if settings.graphiql else []),
    ]
    middleware = [
        *extensions.outer_middleware(runtime),
        # The request id, access log, security headers, CORS and bounds: one layer (http/middleware.py).
        *extensions.middleware(runtime),
        # Innermost: cached catalog answers skip Starlette's routing (graphql/transport/fast.py).
        Middleware(FastPathMiddleware, fast=view.fast),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(view.aclose)
            for task in extensions.background_tasks(runtime):
                await stack.enter_async_context(task)
            try:
                yield
            finally:
                await runtime.db.dispose()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.response_cache = view.cache
    return app


def create_app_from_env() -> Starlette:
    """For `uvicorn --factory` workers: everything comes from the environment the CLI prepared."""
    from kapda_gql.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings)
    app = create_app(settings)
    tune_gc()
    return app


def tune_gc() -> None:
    """Fewer, larger collections: a request leaves ~900 cyclic objects (ORM state, GraphQL
    results), and the default thresholds ran a collection several times per request.
    Freezing moves everything built at start-up (schema, models) out of every later scan."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
