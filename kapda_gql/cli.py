"""The `kapda-gql` command: serve, migrate, create-user, export-schema, purge, webhooks retry."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kapda_gql.config import ConfigError, Settings
from kapda_gql.db.engine import database_url
from kapda_gql.domain.enums import Role
from kapda_gql.domain.errors import DomainError

if TYPE_CHECKING:
    from kapda_gql.devtools.sandbox.server import SandboxServer

log = logging.getLogger("kapda_gql.cli")
DEFAULT_SANDBOX_PORT = 8001
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
    from datetime import timedelta

    from kapda_gql.core import maintenance

    retention = timedelta(days=settings.persisted_query_days)
    counts = _run_async(
        lambda rt: maintenance.purge(rt.db.uow(), persisted_query_retention=retention), settings
    )
    for name, count in counts.items():
        print(f"{name}: {count} deleted")
    return 0


def cmd_webhooks_retry(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.payments import webhooks

    result = _run_async(lambda rt: webhooks.retry_failed(rt.db.uow, rt.gateway), settings)
    print(f"retried {result.attempted} event(s): {result.succeeded} handled, {result.failed} still failing")
    return 0 if result.failed == 0 else 1


def cmd_reconcile_payments(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.checkout import cli as checkout_cli

    return int(_run_async(lambda rt: checkout_cli.reconcile_payments(rt, args), settings))


def cmd_refunds_process(settings: Settings, args: argparse.Namespace) -> int:
    from kapda_gql.payments import refunds

    result = _run_async(lambda rt: refunds.process_due(rt.db.uow, rt.gateway, include_not_due=True), settings)
    print(f"refunds: {result.processed} confirmed, {result.failed} failed, {result.retrying} will be retried")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from kapda_gql.logs import configure_logging

    configure_logging(settings)
    _quiet_startup_logs()
    # uvicorn re-raises the SIGTERM/SIGINT it handled once it has shut down; as SystemExit the
    # interpreter then exits normally, so atexit stops the embedded PostgreSQL (pgserver) too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_quietly)
    taken = _port_problem(args.host, args.port)
    if taken:
        return _refuse(f"{taken}: stop what holds it, or serve on another port with --port N")
    sandbox = None
    if not settings.production and settings.razorpay_base_url is None:
        sandbox = _start_sandbox(settings, args)
        if sandbox is None:
            return 1
        os.environ["KAPDA_RAZORPAY_BASE_URL"] = sandbox.base_url
        settings = settings.with_overrides(razorpay_base_url=sandbox.base_url)
    try:
        url = database_url(settings)
        # Workers are separate processes: hand them the resolved database (and sandbox) by environment.
        os.environ["KAPDA_DATABASE_URL"] = url
        os.environ.setdefault("KAPDA_DATA_DIR", str(settings.data_dir))
        os.environ.setdefault("KAPDA_JWT_SECRET", settings.jwt_secret)
        migrate(url)
        where = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"  # noqa: S104
        if args.demo:
            from kapda_gql.devtools import demo

            logins = _run_async(lambda rt: demo.load(rt, public_url=where), settings)
            print(demo.describe(logins))
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
    finally:
        if sandbox is not None:
            from kapda_gql.devtools.sandbox import address

            address.remove(settings.data_dir)
            sandbox.stop()
    return 0


def _start_sandbox(settings: Settings, args: argparse.Namespace) -> SandboxServer | None:
    """The development sandbox on --sandbox-port; when the default port is taken, on a free one."""
    from kapda_gql.devtools.sandbox import address
    from kapda_gql.devtools.sandbox.server import PortInUseError, SandboxServer

    def server(port: int) -> SandboxServer:
        return SandboxServer(
            key_id=settings.razorpay_key_id,
            key_secret=settings.razorpay_key_secret,
            webhook_secret=settings.razorpay_webhook_secret,
            webhook_url=f"http://127.0.0.1:{args.port}/webhooks/razorpay",
            port=port,
        )

    port = DEFAULT_SANDBOX_PORT if args.sandbox_port is None else args.sandbox_port
    try:
        sandbox = server(port).start()
    except PortInUseError as busy:
        if args.sandbox_port is not None:
            _refuse(f"sandbox {busy.strerror}: stop what holds it, or pick another with --sandbox-port N")
            return None
        sandbox = server(0).start()
        print(f"Razorpay sandbox: port {port} is in use, so it listens on port {sandbox.port} instead")
    address.write(settings.data_dir, sandbox.base_url)
    return sandbox


def _port_problem(host: str, port: int) -> str | None:
    """Why the service cannot listen on ``host:port`` (checked before anything slow starts), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use"
            return f"cannot listen on {host}:{port} ({error.strerror})"
    return None


def _quiet_startup_logs() -> None:
    # pgserver logs every pg_ctl call with its whole output at INFO, alembic each migration:
    # neither helps a developer starting the service; their warnings and errors still show.
    for name in ("pgserver", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # platformdirs (under pgserver) warns when a headless machine has no XDG_RUNTIME_DIR; harmless.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _refuse(message: str) -> int:
    print(f"kapda-gql: {message}", file=sys.stderr)
    return 1


def _with_running_sandbox(settings: Settings) -> Settings:
    """For a command that calls Razorpay: in development with no KAPDA_RAZORPAY_BASE_URL, the
    sandbox of the `serve` that uses this data dir.

    Sandbox credentials are never sent to the real Razorpay: with them and no local sandbox
    to call, the command is refused.
    """
    if settings.production:
        return settings
    if settings.razorpay_base_url is None:
        from kapda_gql.devtools.sandbox import address

        found = address.read(settings.data_dir)
        if found is not None:
            return settings.with_overrides(razorpay_base_url=found)
    if settings.uses_sandbox_credentials and not settings.gateway_is_local:
        raise ConfigError(
            "refusing to send the sandbox credentials to the real Razorpay: no `kapda-gql serve` "
            f"is running with KAPDA_DATA_DIR={settings.data_dir} and KAPDA_RAZORPAY_BASE_URL is "
            f"{settings.razorpay_base_url or 'unset'}; start `kapda-gql serve`, or set "
            "KAPDA_RAZORPAY_BASE_URL to the sandbox's URL"
        )
    return settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kapda-gql", description="Kapda Co. marketplace GraphQL service")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve (GraphiQL at /graphql in development)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--demo", action="store_true", help="load the demo catalog and users once, print logins"
    )
    serve.add_argument(
        "--sandbox-port",
        type=int,
        default=None,
        help=f"development Razorpay sandbox port (default {DEFAULT_SANDBOX_PORT}; "
        "a free one instead when that is taken)",
    )
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
    sub.add_parser(
        "purge", help="delete expired keys, tokens, sessions, old audit entries, unused persisted queries"
    ).set_defaults(fn=cmd_purge)
    hooks = sub.add_parser("webhooks", help="webhook maintenance")
    hooks_sub = hooks.add_subparsers(dest="action", required=True)
    hooks_sub.add_parser("retry", help="handle failed webhook events again").set_defaults(
        fn=cmd_webhooks_retry, gateway=True
    )
    from kapda_gql.reconcile import command as reconcile

    recon = reconcile.add_parser(sub)
    # `reconcile payments` (checkout/cli.py): one round of the Razorpay poll, now.
    recon_sub = recon.add_subparsers(dest="action", required=False)
    recon_sub.add_parser("payments", help="settle open sessions from Razorpay's own records").set_defaults(
        fn=cmd_reconcile_payments, gateway=True
    )
    refunds = sub.add_parser("refunds", help="refund outbox maintenance")
    refunds_sub = refunds.add_subparsers(dest="action", required=True)
    refunds_sub.add_parser("process", help="carry out pending refunds now").set_defaults(
        fn=cmd_refunds_process, gateway=True
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
        if getattr(args, "gateway", False):
            settings = _with_running_sandbox(settings)
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
