"""All the SQL of refunds and webhook events: plain statements with ``$n`` placeholders, each behind
a function with named arguments (none has more than a handful), run in either kind of unit.

Row locks are not taken here but in ``kapda_gql.core.locks``, which states their order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kapda_gql.db.models import WebhookEvent
from kapda_gql.db.sql import Record
from kapda_gql.db.uow import Unit
from kapda_gql.domain.enums import PaymentStatus, RefundStatus, WebhookStatus

# --- refunds --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundRow:
    """A refund as ``locks.refund`` reads it."""

    id: int
    payment_id: int
    order_id: int | None
    amount: int
    status: str
    razorpay_refund_id: str | None

    @staticmethod
    def of(row: Record | None) -> RefundRow | None:
        return RefundRow(*row) if row is not None else None


_INSERT_REFUND = (
    "INSERT INTO refunds (payment_id, order_id, amount, currency, reason, idempotency_key, status) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
)
# The deferred constraint trigger (migration 0005) that refuses, at COMMIT, refunds of a payment
# that add up to more than it captured.
REFUNDS_WITHIN_CAPTURE = "ck_refunds_within_capture"


async def insert_refund(
    tx: Unit, *, payment_id: int, order_id: int | None, amount: int, currency: str, reason: str
) -> int:
    return int(
        await tx.sql.fetchval(
            _INSERT_REFUND,
            payment_id,
            order_id,
            amount,
            currency,
            reason,
            f"kapda-refund-{uuid.uuid4().hex}",
            RefundStatus.PENDING.value,
        )
    )


# What the payment's refunds ask for, except those Razorpay gave up on (they gave nothing back):
# the same sum ck_refunds_within_capture holds within the capture.
_REQUESTED = "SELECT coalesce(sum(amount), 0) FROM refunds WHERE payment_id = $1 AND status <> $2"


async def requested_total(tx: Unit, payment_id: int) -> int:
    """The sum of the payment's refunds that are not FAILED (read it under the payment's lock)."""
    return int(await tx.sql.fetchval(_REQUESTED, payment_id, RefundStatus.FAILED.value))


_PAYMENT_STATUS = "UPDATE payments SET status = $2 WHERE id = $1"
_ORDER_PAYMENT_STATUS = "UPDATE orders SET payment_status = $2 WHERE id = $1"


async def set_payment_status(tx: Unit, payment_id: int, order_id: int | None, status: PaymentStatus) -> None:
    """The payment's status, and its order's ``payment_status`` with it."""
    await tx.sql.execute(_PAYMENT_STATUS, payment_id, status.value)
    if order_id is not None:
        await tx.sql.execute(_ORDER_PAYMENT_STATUS, order_id, status.value)


async def set_order_payment_status(tx: Unit, order_id: int, status: PaymentStatus) -> None:
    await tx.sql.execute(_ORDER_PAYMENT_STATUS, order_id, status.value)


_REFUNDED = "UPDATE payments SET refunded_amount = $2, status = $3 WHERE id = $1"


async def set_refunded(tx: Unit, payment_id: int, refunded_amount: int, status: PaymentStatus) -> None:
    await tx.sql.execute(_REFUNDED, payment_id, refunded_amount, status.value)


_CLAIM = """
    UPDATE refunds r SET next_attempt_at = now() + make_interval(secs => $1), attempts = r.attempts + 1
    FROM payments p
    WHERE r.id = (
        SELECT id FROM refunds
        WHERE status = $2
          AND ($3::bigint IS NULL OR id = $3::bigint)
          AND ($4::boolean OR next_attempt_at <= now())
          AND id <> ALL($5::bigint[])
        ORDER BY next_attempt_at, id
        LIMIT 1 FOR UPDATE SKIP LOCKED
    ) AND p.id = r.payment_id
    RETURNING r.id, r.idempotency_key, r.amount, p.razorpay_payment_id, r.razorpay_refund_id, r.attempts
"""


async def claim_due_refund(
    tx: Unit, *, lease: timedelta, refund_id: int | None, any_time: bool, skipping: Collection[int] = ()
) -> Record | None:
    """Lease one due refund (SKIP LOCKED: several workers never take the same row), none of
    ``skipping`` (the ones the caller tried already)."""
    return await tx.sql.fetchrow(
        _CLAIM, lease.total_seconds(), RefundStatus.PENDING.value, refund_id, any_time, list(skipping)
    )


_NAME_REFUND = "UPDATE refunds SET razorpay_refund_id = $2 WHERE id = $1"


async def name_refund(tx: Unit, refund_id: int, razorpay_refund_id: str) -> None:
    await tx.sql.execute(_NAME_REFUND, refund_id, razorpay_refund_id)


_HELD_RAZORPAY_REFUNDS = (
    "SELECT razorpay_refund_id FROM refunds WHERE payment_id = $1 AND razorpay_refund_id IS NOT NULL"
)


async def held_razorpay_refunds(tx: Unit, payment_id: int) -> set[str]:
    """The Razorpay refund ids our rows of this payment already stand for."""
    return {str(r[0]) for r in await tx.sql.fetch(_HELD_RAZORPAY_REFUNDS, payment_id)}


_SETTLE_REFUND = "UPDATE refunds SET status = $2, processed_at = $3, last_error = $4 WHERE id = $1"
_OTHERS_PENDING = "SELECT count(*) FROM refunds WHERE payment_id = $1 AND status = $2 AND id <> $3"
_ORDER_REFUNDED = "UPDATE orders SET payment_status = $2, refunded_at = $3 WHERE id = $1"


async def settle_refund(
    tx: Unit, refund_id: int, status: RefundStatus, *, at: datetime | None, error: str | None
) -> None:
    await tx.sql.execute(_SETTLE_REFUND, refund_id, status.value, at, error)


async def others_pending(tx: Unit, payment_id: int, refund_id: int) -> int:
    """How many other refunds of this payment still wait for Razorpay."""
    return int(await tx.sql.fetchval(_OTHERS_PENDING, payment_id, RefundStatus.PENDING.value, refund_id))


async def set_order_refunded(tx: Unit, order_id: int, status: PaymentStatus, at: datetime) -> None:
    """The order's payment status after a confirmed refund, and when that refund was confirmed."""
    await tx.sql.execute(_ORDER_REFUNDED, order_id, status.value, at)


_POLL_LATER = "UPDATE refunds SET next_attempt_at = $2 WHERE id = $1"


async def poll_later(tx: Unit, refund_id: int, at: datetime) -> None:
    await tx.sql.execute(_POLL_LATER, refund_id, at)


_FAILED_ATTEMPT = "UPDATE refunds SET last_error = $3, next_attempt_at = $4 WHERE id = $1 AND status = $2"


async def failed_attempt(tx: Unit, refund_id: int, error: str, retry_at: datetime) -> None:
    await tx.sql.execute(_FAILED_ATTEMPT, refund_id, RefundStatus.PENDING.value, error[:1000], retry_at)


_PAYMENT_PK = "SELECT id FROM payments WHERE razorpay_payment_id = $1"


async def payment_pk(tx: Unit, razorpay_payment_id: str) -> int | None:
    value = await tx.sql.fetchval(_PAYMENT_PK, razorpay_payment_id)
    return int(value) if value is not None else None


# --- webhook events -------------------------------------------------------------------------------

_EVENT_COLUMNS = "id, event_id, event_type, payload, status, attempts, last_error, received_at, processed_at"


def _event(row: Record) -> WebhookEvent:
    """A detached model of a stored event, for the HTTP route that hands it back to ``handle_event``."""
    return WebhookEvent(**dict(zip(_EVENT_COLUMNS.split(", "), row, strict=True)))


_STORE_EVENT = (
    "INSERT INTO webhook_events (event_id, event_type, payload, status) VALUES ($1, $2, $3::jsonb, $4) "  # noqa: S608
    f"ON CONFLICT (event_id) DO NOTHING RETURNING {_EVENT_COLUMNS}"
)


async def store_event(
    tx: Unit, event_id: str, event_type: str, payload: dict[str, Any]
) -> WebhookEvent | None:
    row = await tx.sql.fetchrow(
        _STORE_EVENT, event_id, event_type, json.dumps(payload), WebhookStatus.RECEIVED.value
    )
    return _event(row) if row is not None else None


_EVENT_STATUS = "SELECT status FROM webhook_events WHERE id = $1"


async def event_status(tx: Unit, event_pk: int) -> str | None:
    value = await tx.sql.fetchval(_EVENT_STATUS, event_pk)
    return str(value) if value is not None else None


# Unless ``keep_final``: a FAILED outcome never overwrites one a concurrent handling settled.
_FINISH_EVENT = """
    UPDATE webhook_events SET status = $2, attempts = attempts + 1, last_error = $3, processed_at = $4
    WHERE id = $1 AND NOT ($5::boolean AND status = ANY($6::text[]))
"""


async def finish_event(
    tx: Unit,
    event_pk: int,
    status: WebhookStatus,
    note: str | None,
    at: datetime | None,
    *,
    keep: frozenset[str],
) -> None:
    await tx.sql.execute(_FINISH_EVENT, event_pk, status.value, note, at, bool(keep), sorted(keep))


_RETRYABLE_EVENTS = f"""
    SELECT {_EVENT_COLUMNS} FROM webhook_events
    WHERE (status = $1 OR (status = $2 AND received_at < $3)) AND ($4::int IS NULL OR attempts < $4::int)
    ORDER BY id LIMIT $5
"""  # noqa: S608 (constants of this module)


async def retryable_events(
    tx: Unit, *, stale: datetime, max_attempts: int | None, limit: int
) -> list[WebhookEvent]:
    rows = await tx.sql.fetch(
        _RETRYABLE_EVENTS,
        WebhookStatus.FAILED.value,
        WebhookStatus.RECEIVED.value,
        stale,
        max_attempts,
        limit,
    )
    return [_event(row) for row in rows]


_PAYMENT_STATUS_OF = "SELECT status FROM payments WHERE razorpay_payment_id = $1"


async def recorded_payment_status(tx: Unit, razorpay_payment_id: str) -> str | None:
    value = await tx.sql.fetchval(_PAYMENT_STATUS_OF, razorpay_payment_id)
    return str(value) if value is not None else None
