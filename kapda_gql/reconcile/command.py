"""The CLI's ``reconcile`` command: run the checks, print the table, set the gauge, exit 0 or 1."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from kapda_gql import observability
from kapda_gql.config import Settings
from kapda_gql.db.engine import database_url, sync_libpq_url
from kapda_gql.payments.gateway import PaymentGateway
from kapda_gql.reconcile import checks, report


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "reconcile", help="check stock, money and commissions (read-only); exit 1 on any disagreement"
    )
    p.add_argument(
        "--since",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="ask Razorpay about refunds and payments of the last DAYS days (default 30; 0: all)",
    )
    p.add_argument("--no-razorpay", action="store_true", help="check the database only")
    p.set_defaults(fn=cmd_reconcile)
    return p


async def reconcile(settings: Settings, *, since_days: float, razorpay: bool) -> checks.Result:
    since = datetime.now(UTC) - timedelta(days=since_days) if since_days > 0 else None
    gateway = None
    if razorpay:
        gateway = PaymentGateway(
            key_id=settings.razorpay_key_id,
            key_secret=settings.razorpay_key_secret,
            webhook_secret=settings.razorpay_webhook_secret,
            base_url=settings.razorpay_base_url,
            timeout=settings.razorpay_timeout_seconds,
        )
    try:
        result = await checks.run(sync_libpq_url(database_url(settings)), gateway, since=since)
    finally:
        if gateway is not None:
            gateway.close()
    observability.RECONCILE_DISAGREEMENTS.set(result.disagreements)
    return result


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    result = asyncio.run(reconcile(settings, since_days=args.since, razorpay=not args.no_razorpay))
    print(report.render(result))
    return 0 if result.disagreements == 0 else 1
