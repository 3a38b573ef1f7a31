"""Password hashing (argon2id) and access tokens (HS256 JWTs). No I/O here."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kapda_gql.domain.errors import Unauthenticated

ALGORITHM = "HS256"
MAX_USER_ID = 2**63 - 1
_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" defaults
# Verified against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("kapda-timing-equaliser")


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow and memory-hard: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_token(
    secret: str, user_id: int, ttl_seconds: int, now: datetime | None = None
) -> tuple[str, TokenClaims]:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = TokenClaims(user_id, uuid.uuid4().hex, issued, issued + timedelta(seconds=ttl_seconds))
    token = jwt.encode(
        {"sub": str(user_id), "jti": claims.jti, "iat": issued, "exp": claims.expires_at},
        secret.encode(),
        algorithm=ALGORITHM,
    )
    return token, claims


LEEWAY_SECONDS = 5


def decode_token(secret: str, token: str) -> TokenClaims:
    """Only HS256 with our key, with every claim present; anything else is UNAUTHENTICATED."""
    try:
        claims = _verified(secret, token)
    except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError, OSError):
        # OverflowError/OSError: a timestamp beyond what datetime can hold.
        raise Unauthenticated("The token is invalid") from None
    if claims.expires_at.timestamp() + LEEWAY_SECONDS <= time.time():
        raise Unauthenticated("The token has expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> TokenClaims:
    """Signature, algorithm and claims, remembered per token: a client sends the same token with
    every request, and verifying it is most of authentication's CPU. Expiry is judged per call,
    by decode_token; a token that fails here raises, and failures are never remembered."""
    payload = jwt.decode(
        token,
        secret.encode(),
        algorithms=[ALGORITHM],
        options={"require": ["sub", "jti", "iat", "exp"], "verify_exp": False},
        leeway=LEEWAY_SECONDS,
    )
    user_id = int(payload["sub"])
    # Our ids are positive BIGINTs; anything else would fail deeper down, as a 500.
    if not 0 < user_id <= MAX_USER_ID:
        raise ValueError("sub out of range")
    return TokenClaims(
        user_id=user_id,
        jti=str(payload["jti"]),
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
    )
