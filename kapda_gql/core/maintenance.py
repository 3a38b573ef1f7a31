"""Housekeeping behind `kapda-gql purge`: delete what has outlived its purpose, in one transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Delete, and_, delete, exists, func, or_, text
from sqlalchemy.engine import CursorResult

from kapda_gql.core import audit
from kapda_gql.db.models import (
    CheckoutSession,
    IdempotencyKey,
    Order,
    Payment,
    RateLimitBucket,
    RevokedToken,
    WebhookEvent,
)
from kapda_gql.db.uow import OrmUnit, UnitOfWork
from kapda_gql.domain.enums import CheckoutStatus, WebhookStatus

log = logging.getLogger("kapda_gql.maintenance")

AUDIT_RETENTION = timedelta(days=365)
# A client retrying a checkout does so within minutes; a day covers any sane retry policy.
IDEMPOTENCY_RETENTION = timedelta(hours=24)
# Razorpay retries a webhook for about a day, so an expired session stays matchable that long.
OPEN_CHECKOUT_GRACE = timedelta(hours=24)
FAILED_CHECKOUT_RETENTION = timedelta(days=30)
# Deduplication needs a processed event only while Razorpay might still redeliver it; the rest is history.
WEBHOOK_RETENTION = timedelta(days=90)
DONE_WEBHOOK_STATUSES = (WebhookStatus.PROCESSED.value, WebhookStatus.IGNORED.value)
# A registered persisted query nobody used for this long is dropped; a client that still has its
# hash gets PERSISTED_QUERY_NOT_FOUND once and sends the document again (Apollo's protocol).
PERSISTED_QUERY_RETENTION = timedelta(days=30)
_UNUSED_PERSISTED_QUERIES = text("DELETE FROM persisted_queries WHERE last_used_at < :cutoff")


async def _delete(tx: OrmUnit, stmt: Delete) -> int:
    # Bulk deletes: nothing in this session holds these rows, so skip synchronising it.
    result = await tx.session.execute(stmt.execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _unreferenced_checkout() -> Any:
    # Orders and payments point at their checkout session with ON DELETE RESTRICT; checking here
    # as well means a referenced session is skipped instead of failing the whole purge.
    return and_(
        ~exists().where(Order.checkout_session_id == CheckoutSession.id),
        ~exists().where(Payment.checkout_session_id == CheckoutSession.id),
    )


async def purge(
    uow: UnitOfWork,
    *,
    now: datetime | None = None,
    persisted_query_retention: timedelta = PERSISTED_QUERY_RETENTION,
) -> dict[str, int]:
    """Deletes expired rows of every kind; returns how many of each went."""
    at = now or datetime.now(UTC)

    async def work(tx: OrmUnit) -> dict[str, int]:
        counts = {
            "audit_entries": await audit.purge_older_than(tx, at - AUDIT_RETENTION),
            "idempotency_keys": await _delete(
                tx, delete(IdempotencyKey).where(IdempotencyKey.created_at < at - IDEMPOTENCY_RETENTION)
            ),
            "revoked_tokens": await _delete(tx, delete(RevokedToken).where(RevokedToken.expires_at < at)),
            "checkout_sessions": await _delete(
                tx,
                delete(CheckoutSession).where(
                    or_(
                        and_(
                            CheckoutSession.status == CheckoutStatus.OPEN.value,
                            CheckoutSession.expires_at < at - OPEN_CHECKOUT_GRACE,
                        ),
                        and_(
                            CheckoutSession.status == CheckoutStatus.FAILED.value,
                            CheckoutSession.created_at < at - FAILED_CHECKOUT_RETENTION,
                        ),
                    ),
                    _unreferenced_checkout(),
                ),
            ),
            "rate_limit_buckets": await _delete(
                tx, delete(RateLimitBucket).where(RateLimitBucket.expires_at < at)
            ),
            "webhook_events": await _delete(
                tx,
                delete(WebhookEvent).where(
                    WebhookEvent.status.in_(DONE_WEBHOOK_STATUSES),
                    func.coalesce(WebhookEvent.processed_at, WebhookEvent.received_at)
                    < at - WEBHOOK_RETENTION,
                ),
            ),
            "persisted_queries": int(
                cast(
                    CursorResult[Any],
                    await tx.session.execute(
                        _UNUSED_PERSISTED_QUERIES, {"cutoff": at - persisted_query_retention}
                    ),
                ).rowcount
                or 0
            ),
        }
        await tx.commit()
        return counts

    counts = await uow.run(work)
    log.info("purged %s", ", ".join(f"{kind}={n}" for kind, n in counts.items()))
    return counts
