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


def schema_extensions(runtime: Runtime) -> list[type[SchemaExtension] | SchemaExtension]:
    return []


def routes(runtime: Runtime) -> list[BaseRoute]:
    return []


def outer_middleware(runtime: Runtime) -> list[Middleware]:
    """Outside the request-id middleware (nothing needs to run before the id exists yet)."""
    return []


def middleware(runtime: Runtime) -> list[Middleware]:
    return []


def background_tasks(runtime: Runtime) -> list[AbstractAsyncContextManager[Any]]:
    return []
