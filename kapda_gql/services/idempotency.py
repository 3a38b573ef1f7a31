"""Idempotency keys with Stripe's semantics: per user, kept 24 hours, same key + same request →
the first result again, same key + different request → IDEMPOTENCY_KEY_REUSED.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from kapda_gql.db.uow import UnitOfWork
from kapda_gql.errors import BadUserInput, DomainError, IdempotencyKeyReused

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    user_id: int
    key: str
    operation: str
    request_hash: str


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadUserInput("idempotencyKey", f"must be 1-{MAX_KEY_LENGTH} printable characters")
    return key


_CLAIM = text(
    """
    WITH fresh AS (
        DELETE FROM idempotency_keys
        WHERE user_id = :user_id AND key = :key AND operation = :operation AND created_at < :stale
    ), ins AS (
        INSERT INTO idempotency_keys (user_id, key, operation, request_hash, response, created_at)
        VALUES (:user_id, :key, :operation, :hash, NULL, now())
        ON CONFLICT DO NOTHING
        RETURNING request_hash, response
    )
    SELECT request_hash, response, true AS inserted FROM ins
    UNION ALL
    SELECT request_hash, response, false FROM idempotency_keys
    WHERE user_id = :user_id AND key = :key AND operation = :operation AND created_at >= :stale
    LIMIT 1
    """
)


async def claim(uow: UnitOfWork, claim: Claim) -> dict[str, Any] | None:
    """Register the key; return the stored response when this request already finished.

    Raises IDEMPOTENCY_KEY_REUSED when the key was used for a different request,
    or replays the stored domain error when the first request failed with one.
    """
    async with uow:
        row = (
            await uow.session.execute(
                _CLAIM,
                {
                    "user_id": claim.user_id,
                    "key": claim.key,
                    "operation": claim.operation,
                    "hash": claim.request_hash,
                    "stale": datetime.now(UTC) - TTL,
                },
            )
        ).first()
        await uow.commit()
    if row is None:
        return None  # a stale key was just deleted in this same statement; the retry is a new request
    stored_hash, response, _inserted = row
    if stored_hash != claim.request_hash:
        raise IdempotencyKeyReused()
    if response is None:
        return None
    if "error" in response:
        raise DomainError.from_dict(response["error"])
    return dict(response["result"])


_FINISH = text(
    "UPDATE idempotency_keys SET response = CAST(:response AS jsonb) "
    "WHERE user_id = :user_id AND key = :key AND operation = :operation AND response IS NULL"
)


async def finish(
    uow: UnitOfWork,
    claim: Claim | None,
    *,
    result: dict[str, Any] | None = None,
    error: DomainError | None = None,
) -> None:
    """Store the outcome inside the caller's open transaction."""
    if claim is None:
        return
    response = {"result": result} if error is None else {"error": error.to_dict()}
    await uow.session.execute(
        _FINISH,
        {
            "response": json.dumps(response),
            "user_id": claim.user_id,
            "key": claim.key,
            "operation": claim.operation,
        },
    )


async def finish_alone(uow: UnitOfWork, claim: Claim | None, error: DomainError) -> None:
    """Store a failure outcome in a transaction of its own."""
    if claim is None:
        return
    async with uow:
        await finish(uow, claim, error=error)
        await uow.commit()
