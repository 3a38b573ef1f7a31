"""Idempotency keys with Stripe's semantics: per user, kept 24 hours, same key + same request →
the first result again, same key + different request → IDEMPOTENCY_KEY_REUSED.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kapda_gql.db.holder import Unavailable
from kapda_gql.db.uow import Unit, UnitOfWork
from kapda_gql.domain.errors import BadUserInput, DomainError, IdempotencyKeyReused

log = logging.getLogger("kapda_gql.idempotency")

TTL = timedelta(hours=24)
# Only for a claim without a holder: unanswered after this long, its process died and it may be
# taken over. Longer than any request can run (a checkout makes a few Razorpay calls of ≤ ~10 s each).
LEASE = timedelta(seconds=120)
POLL_SECONDS = 0.05
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


# One statement in the common case: insert the key, or read what is stored under it. The ages are
# judged by the database clock, the same clock that wrote created_at. Each statement below is one
# atomic compare-and-set, so the claim runs on a lean unit outside any transaction (one round trip).
# A claim names its holder, the claiming process's own backend (kapda_gql/db/holder.py): while that
# backend lives the request is still working and a retry waits for its answer; once it is gone (the
# process died, or the database dropped it) the claim is abandoned at once. A backend whose start
# time this role may not read (another role's) counts as alive. Claims without a holder (written
# before holders, or by a process that could not open one) fall back to the lease.
# Parameters: $1 user_id, $2 key, $3 operation, then each statement's own.
_CLAIM = """
    WITH ins AS (
        INSERT INTO idempotency_keys
            (user_id, key, operation, request_hash, response, created_at, holder_pid, holder_started)
        VALUES ($1, $2, $3, $4, NULL, now(), $7, $8)
        ON CONFLICT DO NOTHING
        RETURNING request_hash, response, created_at
    )
    SELECT request_hash, response, created_at, true AS inserted, false AS expired, false AS abandoned FROM ins
    UNION ALL
    SELECT k.request_hash, k.response, k.created_at, false,
           k.created_at < now() - make_interval(secs => $5),
           k.response IS NULL AND CASE
               WHEN k.holder_pid IS NULL THEN k.created_at < now() - make_interval(secs => $6)
               ELSE NOT EXISTS (
                   SELECT 1 FROM pg_stat_activity a
                   WHERE a.pid = k.holder_pid
                     AND (a.backend_start = k.holder_started OR a.backend_start IS NULL))
           END
    FROM idempotency_keys k
    WHERE k.user_id = $1 AND k.key = $2 AND k.operation = $3
    LIMIT 1
"""
_FORGET = (
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND operation = $3 AND created_at = $4"
)
_TAKE_OVER = (
    "UPDATE idempotency_keys SET created_at = now(), holder_pid = $5, holder_started = $6 "
    "WHERE user_id = $1 AND key = $2 AND operation = $3 AND created_at = $4 AND response IS NULL RETURNING 1"
)
_RELEASE = (
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND operation = $3 AND response IS NULL"
)


def _key(claim: Claim) -> tuple[int, str, str]:
    return (claim.user_id, claim.key, claim.operation)


async def claim(uow: UnitOfWork, claim: Claim) -> dict[str, Any] | None:
    """Register the key; return the stored response when this request already finished.

    Returns None when the caller now owns the key and must do the work, then
    ``finish`` (or ``release``) it. A request still in flight under the key is
    waited for, so concurrent requests with one key do the work once. Raises
    IDEMPOTENCY_KEY_REUSED when the key was used for a different request, or
    replays the stored domain error when the first request failed with one.
    """
    key = _key(claim)
    pid, started = await _holder(uow)
    while True:
        async with uow.lean(read=True) as tx:
            row = await tx.sql.fetchrow(
                _CLAIM, *key, claim.request_hash, TTL.total_seconds(), LEASE.total_seconds(), pid, started
            )
            if row is None:
                # The key was inserted by a request whose commit our statement's snapshot missed: look again.
                continue
            request_hash, response, created_at, inserted, expired, abandoned = row
            if not inserted and expired:
                # Kept 24 hours: after that the key is forgotten and this is a new request.
                await tx.sql.execute(_FORGET, *key, created_at)
                continue
            if abandoned and request_hash == claim.request_hash:
                # Its holder is gone (or, holderless, it is past its lease): the process working on
                # it died. Exactly one of the requests racing for the key takes it over (the compare
                # on created_at decides), and the key is then held by the winner's backend.
                if await tx.sql.fetchrow(_TAKE_OVER, *key, created_at, pid, started) is not None:
                    return None
                continue
        if inserted:
            return None
        if request_hash != claim.request_hash:
            raise IdempotencyKeyReused()
        if response is None:
            # The first request is still working; its answer is ours too.
            await asyncio.sleep(POLL_SECONDS)
            continue
        if "error" in response:
            raise DomainError.from_dict(response["error"])
        return dict(response["result"])


async def _holder(uow: UnitOfWork) -> tuple[int | None, datetime | None]:
    """This process's backend, connected once per process; none (the lease decides) if it cannot be."""
    if uow.holder is None:
        return None, None
    try:
        identity = await uow.holder.identity()
    except Unavailable:
        log.warning("no holder backend; this claim falls back to the %s lease", LEASE, exc_info=True)
        return None, None
    return identity.pid, identity.started


async def release(uow: UnitOfWork, claim: Claim | None) -> None:
    """Give the key up unanswered (a retryable failure): the next request with it does the work again."""
    if claim is None:
        return
    async with uow.lean(read=True) as tx:
        await tx.sql.execute(_RELEASE, *_key(claim))


# Storing an answer, as a named part: it runs alone (``finish``) or rides inside the statement that
# makes the change it answers for (the checkout's order statement), with ``answer_values``.
ANSWER_PART = (
    "UPDATE idempotency_keys SET response = :answer_response::jsonb "
    "WHERE user_id = :answer_user_id AND key = :answer_key AND operation = :answer_operation "
    "AND response IS NULL"
)


def answer_values(
    claim: Claim | None, *, result: dict[str, Any] | None = None, error: DomainError | None = None
) -> dict[str, Any]:
    """Values for ``ANSWER_PART``; without a claim the key is NULL and the update matches nothing."""
    user_id, key, operation = _key(claim) if claim is not None else (None, None, None)
    response = {"result": result} if error is None else {"error": error.to_dict()}
    return {
        "answer_user_id": user_id,
        "answer_key": key,
        "answer_operation": operation,
        "answer_response": json.dumps(response),
    }


_FINISH = (
    "UPDATE idempotency_keys SET response = CAST($4 AS jsonb) "
    "WHERE user_id = $1 AND key = $2 AND operation = $3 AND response IS NULL"
)


async def finish(
    tx: Unit,
    claim: Claim | None,
    *,
    result: dict[str, Any] | None = None,
    error: DomainError | None = None,
) -> None:
    """Store the outcome inside the caller's open transaction (a lean unit or an ORM one)."""
    if claim is None:
        return
    v = answer_values(claim, result=result, error=error)
    await tx.sql.execute(
        _FINISH, v["answer_user_id"], v["answer_key"], v["answer_operation"], v["answer_response"]
    )


async def finish_alone(
    uow: UnitOfWork,
    claim: Claim | None,
    error: DomainError | None = None,
    *,
    result: dict[str, Any] | None = None,
) -> None:
    """Store the outcome in a statement of its own."""
    if claim is None:
        return
    async with uow.lean(read=True) as tx:
        await finish(tx, claim, result=result, error=error)
