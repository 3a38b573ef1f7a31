"""Where the database is, and the async engine that talks to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kapda_gql.config import Settings

log = logging.getLogger("kapda_gql.db")

_embedded: dict[Path, Any] = {}


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in ``data_dir/pg`` and return its libpq URL.

    pgserver stops the server when the last process holding it exits, so the
    database lives exactly as long as the service or test run that started it.
    """
    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _embedded:
        from pgserver import postgres_server  # late: a service with KAPDA_DATABASE_URL never needs it

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        _embedded[pgdata] = postgres_server.get_server(pgdata, cleanup_mode="stop")
    return str(_embedded[pgdata].get_uri())


def database_url(settings: Settings) -> str:
    """The libpq URL to use: the configured one, else the embedded server's."""
    return settings.database_url or start_embedded(settings.data_dir)


def async_url(url: str) -> str:
    """Any PostgreSQL URL spelled for SQLAlchemy's asyncpg dialect."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def sync_libpq_url(url: str) -> str:
    """The same URL in plain libpq form (for asyncpg.connect and psql)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Bounds:
    """How long the service waits on its database before answering SERVICE_UNAVAILABLE."""

    connect: float = 5.0
    statement: float = 10.0
    idle_in_transaction: float = 30.0
    checkout: float = 5.0


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 0, bounds: Bounds | None = None
) -> AsyncEngine:
    bounds = bounds or Bounds()
    server_settings = {
        "application_name": "kapda-gql",
        # The server cancels a statement (a lock wait included) past the bound, and ends a session
        # that sits in an open transaction, so a frozen table cannot pin every connection.
        "statement_timeout": str(int(bounds.statement * 1000)),
        "idle_in_transaction_session_timeout": str(int(bounds.idle_in_transaction * 1000)),
    }
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=bounds.checkout,
        # Every statement we send is a parameterised constant, so the prepared
        # statement cache pays off; the name is per-connection, safe with pools.
        # The client's own bound, a little past the server's: it ends the wait when the server
        # itself does not answer (frozen, or the network is gone), which statement_timeout cannot.
        connect_args={
            "server_settings": server_settings,
            "timeout": bounds.connect,
            "command_timeout": bounds.statement + 1.0,
        },
    )
