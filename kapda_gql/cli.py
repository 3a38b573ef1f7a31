"""The `kapda-gql` command: serve, migrate, create-user, export-schema, purge, webhooks retry."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from kapda_gql.config import ConfigError, Settings
from kapda_gql.db.engine import database_url
from kapda_gql.domain.enums import Role
from kapda_gql.domain.errors import DomainError

log = logging.getLogger("kapda_gql.cli")
ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schema.graphql"


def migrate(url: str) -> None:
    """`alembic upgrade head` on ``url`` (safe to run from several processes at once)."""
    from alembic.config import Config

    from alembic import command

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def _run_async(fn: Callable[[Any], Awaitable[Any]], settings: Settings) -> Any:
    from kapda_gql.app import build_runtime

    async def main() -> Any:
        runtime = build_runtime(settings)
        try:
            return await fn(runtime)
        finally:
            await runtime.db.dispose()

    return asyncio.run(main())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    migrate(database_url(settings))
    print("database is at the newest migration")
    return 0


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.graphql.schema import export_sdl

    target = Path(args.output) if args.output else SCHEMA_FILE
    target.write_text(export_sdl())
    print(f"wrote {target}")
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.auth import services as auth
    from kapda_gql.domain.policy import Actor

    migrate(database_url(settings))

    async def create(runtime: Any) -> Any:
        return await auth.create_user(
            runtime.db.uow(),
            Actor.system_actor("cli"),
            email=args.email,
            password=args.password,
            name=args.name,
            role=Role(args.role.upper()),
        )

    user = _run_async(create, settings)
    print(f"created {user.role.lower()} {user.email} (id {user.id})")
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.core import maintenance

    counts = _run_async(lambda rt: maintenance.purge(rt.db.uow()), settings)
    for name, count in counts.items():
        print(f"{name}: {count} deleted")
    return 0


def cmd_webhooks_retry(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.payments import webhooks

    result = _run_async(lambda rt: webhooks.retry_failed(rt.db.uow, rt.gateway), settings)
    print(f"retried {result.attempted} event(s): {result.succeeded} handled, {result.failed} still failing")
    return 0 if result.failed == 0 else 1


def cmd_refunds_process(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.payments import refunds

    result = _run_async(lambda rt: refunds.process_due(rt.db.uow, rt.gateway, include_not_due=True), settings)
    print(f"refunds: {result.processed} confirmed, {result.failed} failed, {result.retrying} will be retried")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from kapda_gql.logs import configure_logging

    configure_logging(settings)
    url = database_url(settings)
    # Workers are separate processes: hand them the resolved database (and sandbox) by environment.
    os.environ["KAPDA_DATABASE_URL"] = url
    os.environ.setdefault("KAPDA_DATA_DIR", str(settings.data_dir))
    os.environ.setdefault("KAPDA_JWT_SECRET", settings.jwt_secret)
    migrate(url)
    sandbox = None
    if not settings.production and settings.razorpay_base_url is None:
        from kapda_gql.devtools.sandbox.server import SandboxServer

        sandbox = SandboxServer(
            key_id=settings.razorpay_key_id,
            key_secret=settings.razorpay_key_secret,
            webhook_secret=settings.razorpay_webhook_secret,
            webhook_url=f"http://127.0.0.1:{args.port}/webhooks/razorpay",
            port=args.sandbox_port,
        ).start()
        os.environ["KAPDA_RAZORPAY_BASE_URL"] = sandbox.base_url
        settings = settings.with_overrides(razorpay_base_url=sandbox.base_url)
    if args.demo:
        from kapda_gql.devtools import demo

        logins = _run_async(demo.load, settings)
        print(demo.describe(logins))
    where = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"  # noqa: S104
    print(f"\nKapda GraphQL is starting at {where}/graphql", flush=True)
    if settings.graphiql:
        print(f"GraphiQL: open {where}/graphql in a browser", flush=True)
    if sandbox is not None:
        print(
            f"Razorpay sandbox: {sandbox.base_url} (pay an order: POST {sandbox.base_url}/sandbox/orders/<razorpayOrderId>/pay)",
            flush=True,
        )
    uvicorn.run(
        "kapda_gql.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,  # ours (http/middleware.py) writes one line per request
        proxy_headers=False,
    )
    if sandbox is not None:
        sandbox.stop()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kapda-gql", description="Kapda Co. marketplace GraphQL service")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve (GraphiQL at /graphql in development)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--demo", action="store_true", help="load the demo catalog and users once, print logins"
    )
    serve.add_argument("--sandbox-port", type=int, default=8001, help="development Razorpay sandbox port")
    serve.set_defaults(fn=cmd_serve)
    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(fn=cmd_migrate)
    export = sub.add_parser("export-schema", help="write schema.graphql from the code")
    export.add_argument("--output")
    export.set_defaults(fn=cmd_export_schema)
    create = sub.add_parser("create-user", help="make a user (the only way to make the first admin)")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=["customer", "designer", "admin"], default="customer")
    create.set_defaults(fn=cmd_create_user)
    sub.add_parser("purge", help="delete expired keys, tokens, sessions, old audit entries").set_defaults(
        fn=cmd_purge
    )
    hooks = sub.add_parser("webhooks", help="webhook maintenance")
    hooks_sub = hooks.add_subparsers(dest="action", required=True)
    hooks_sub.add_parser("retry", help="handle failed webhook events again").set_defaults(
        fn=cmd_webhooks_retry
    )
    refunds = sub.add_parser("refunds", help="refund outbox maintenance")
    refunds_sub = refunds.add_subparsers(dest="action", required=True)
    refunds_sub.add_parser("process", help="carry out pending refunds now").set_defaults(
        fn=cmd_refunds_process
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"kapda-gql: {error}", file=sys.stderr)
        return 2
    if args.command != "serve":
        logging.basicConfig(level=logging.WARNING)
    try:
        return int(args.fn(settings, args))
    except ConfigError as error:
        print(f"kapda-gql: {error}", file=sys.stderr)
        return 2
    except DomainError as error:
        fields = "".join(f"\n  {f['field']}: {f['message']}" for f in error.extensions.get("fields", []))
        print(f"kapda-gql: {error.code}: {error.message}{fields}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
