"""Forged, altered, expired and revoked tokens are UNAUTHENTICATED: never anonymous, never someone else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from kapda_gql.auth.security import decode_token, issue_token
from kapda_gql.config import Settings
from kapda_gql.domain.errors import Unauthenticated
from tests.support.assertions import codes


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def claims(user_id: int, **over: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": str(user_id),
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs256(secret: str, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """Signed by hand, so empty keys and odd headers (which PyJWT refuses to make) can be sent."""
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', **(headers or {})})}.{segment(payload)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def hmac_signed(secret: str, alg: str, payload: dict[str, Any]) -> str:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(payload)}"
    return f"{signing_input}.{b64(hmac.new(secret.encode(), signing_input.encode(), digest).digest())}"


def tampered(secret: str, victim: int, attacker: int) -> str:
    """A genuine token of the attacker with its payload swapped for the victim's id."""
    token, _ = issue_token(secret, attacker, 3600)
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["sub"] = str(victim)
    return f"{header}.{segment(body)}.{signature}"


Forge = Callable[[Settings, int, int], str]

ATTACKS: dict[str, Forge] = {
    "alg none": lambda s, victim, _: f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims(victim))}.",
    "alg None, signature kept": lambda s, victim, _: (
        f"{segment({'alg': 'None', 'typ': 'JWT'})}.{segment(claims(victim))}.{b64(b'x' * 32)}"
    ),
    "wrong key": lambda s, victim, _: hs256("another-secret-" + "y" * 40, claims(victim)),
    "empty key": lambda s, victim, _: hs256("", claims(victim)),
    "expired": lambda s, victim, _: hs256(
        s.jwt_secret,
        claims(
            victim,
            iat=int((datetime.now(UTC) - timedelta(hours=2)).timestamp()),
            exp=int((datetime.now(UTC) - timedelta(minutes=5)).timestamp()),
        ),
    ),
    "tampered payload": lambda s, victim, attacker: tampered(s.jwt_secret, victim, attacker),
    "missing sub": lambda s, victim, _: hs256(s.jwt_secret, claims(victim, sub=None)),
    "missing jti": lambda s, victim, _: hs256(s.jwt_secret, claims(victim, jti=None)),
    "missing exp": lambda s, victim, _: hs256(s.jwt_secret, claims(victim, exp=None)),
    "missing iat": lambda s, victim, _: hs256(s.jwt_secret, claims(victim, iat=None)),
    "sub not a number": lambda s, victim, _: hs256(s.jwt_secret, claims(victim, sub="admin")),
    "sub of nobody": lambda s, victim, _: hs256(s.jwt_secret, claims(victim, sub="999999999")),
    "HS512 with our key": lambda s, victim, _: hmac_signed(s.jwt_secret, "HS512", claims(victim)),
    "HS384 with our key": lambda s, victim, _: hmac_signed(s.jwt_secret, "HS384", claims(victim)),
    "RS256 header": lambda s, victim, _: (
        f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims(victim))}.{b64(bytes(256))}"
    ),
    "HS256 over a public-key header": lambda s, victim, _: hs256(
        s.jwt_secret, claims(victim), headers={"alg": "RS256", "jwk": {"kty": "oct", "k": b64(b"attacker")}}
    ),
    "kid injection": lambda s, victim, _: hs256("", claims(victim), headers={"kid": "../../../../dev/null"}),
    "garbage": lambda s, victim, _: "not.a.token",
    "two segments": lambda s, victim, _: f"{segment({'alg': 'HS256'})}.{segment(claims(victim))}",
    # Under the 16 KiB header bound (over it the request is 431 before any token is read).
    "huge": lambda s, victim, _: "a" * 15_000,
    "latin-1 bytes": lambda s, victim, _: "eyJ\u00e9.\u00ff\u00fe.\u00e0",
}


async def test_forged_tokens_are_unauthenticated(
    api: Any, settings: Settings, make_user: Any, db: asyncpg.Connection
) -> None:
    admin = await make_user("ADMIN")
    attacker = await make_user("CUSTOMER")
    wrong: list[str] = []
    for attack, forge in ATTACKS.items():
        authorization = f"Bearer {forge(settings, admin.id, attacker.id)}".encode("latin-1")
        response = await api.client.post(
            "/graphql", json={"query": "{ me { id role } }"}, headers={"authorization": authorization}
        )
        body = response.json()
        if body.get("data") is not None or codes(body) != ["UNAUTHENTICATED"]:
            wrong.append(f"{attack}: {body}")
        # Not even a mutation gets through: the admin's power is not for the forger.
        response = await api.client.post(
            "/graphql",
            json={
                "query": "mutation($id: ID!) { setUserStatus(userId: $id, status: SUSPENDED) { status } }",
                "variables": {"id": str(attacker.id)},
            },
            headers={"authorization": authorization},
        )
        if codes(response.json()) != ["UNAUTHENTICATED"]:
            wrong.append(f"{attack} (mutation): {response.text}")
    assert not wrong, "\n".join(wrong)
    assert await db.fetchval("SELECT status FROM users WHERE id = $1", attacker.id) == "ACTIVE"
    # The same two users with genuine tokens are recognised: the refusals above were the forgeries.
    assert (await api.ok("{ me { id } }", token=admin.token))["me"]["id"] == str(admin.id)


async def test_malformed_authorization_headers(api: Any) -> None:
    for header in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer", "Bearer a b c"):
        response = await api.client.post(
            "/graphql", json={"query": "{ me { id } }"}, headers={"authorization": header}
        )
        assert codes(response.json()) == ["UNAUTHENTICATED"], (header, response.text)


async def test_revoked_by_logout(api: Any, make_user: Any) -> None:
    user = await make_user("CUSTOMER")
    assert (await api.ok("{ me { id } }", token=user.token))["me"]["id"] == str(user.id)
    await api.ok("mutation { logout { ok } }", token=user.token)
    body = await api("{ me { id } }", token=user.token)
    assert codes(body) == ["UNAUTHENTICATED"]
    # Another token of the same user still works: logout revokes that one token.
    other, _ = issue_token(api_secret(api), user.id, 3600)
    assert (await api.ok("{ me { id } }", token=other))["me"]["id"] == str(user.id)


def api_secret(api: Any) -> str:
    transport = api.client._transport
    return str(transport.app.state.runtime.settings.jwt_secret)


async def test_expired_within_leeway_is_accepted_and_beyond_is_not(
    api: Any, settings: Settings, make_user: Any
) -> None:
    user = await make_user("CUSTOMER")
    now = datetime.now(UTC)
    just = hs256(settings.jwt_secret, claims(user.id, exp=int((now - timedelta(seconds=2)).timestamp())))
    assert (await api.ok("{ me { id } }", token=just))["me"]["id"] == str(user.id)
    late = hs256(settings.jwt_secret, claims(user.id, exp=int((now - timedelta(seconds=30)).timestamp())))
    assert codes(await api("{ me { id } }", token=late)) == ["UNAUTHENTICATED"]


async def test_a_token_accepted_before_is_refused_once_it_expires(
    api: Any, settings: Settings, make_user: Any, monkeypatch: Any
) -> None:
    """Verified tokens are remembered (security._verified), but expiry is judged on every request."""
    import kapda_gql.auth.security as security

    user = await make_user("CUSTOMER")
    token, issued = issue_token(settings.jwt_secret, user.id, 60)
    assert (await api.ok("{ me { id } }", token=token))["me"]["id"] == str(user.id)
    later = issued.expires_at.timestamp() + security.LEEWAY_SECONDS + 1
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert codes(await api("{ me { id } }", token=token)) == ["UNAUTHENTICATED"]


def test_huge_timestamps_in_a_signed_token_are_invalid_not_a_crash(settings: Settings) -> None:
    token = hs256(settings.jwt_secret, claims(1, exp=10**20))
    with pytest.raises(Unauthenticated):
        decode_token(settings.jwt_secret, token)


async def test_suspended_user_token_is_refused(api: Any, make_user: Any, db: asyncpg.Connection) -> None:
    user = await make_user("CUSTOMER")
    await db.execute("UPDATE users SET status = 'SUSPENDED' WHERE id = $1", user.id)
    body = await api("{ me { id } }", token=user.token)
    assert body["data"] is None
    assert codes(body) == ["ACCOUNT_SUSPENDED"]


async def test_a_token_from_production_is_worthless_in_development(
    api: Any, make_user: Any, production_settings: Any
) -> None:
    user = await make_user("CUSTOMER")
    production = production_settings()
    token, _ = issue_token(production.jwt_secret, user.id, 3600)
    assert codes(await api("{ me { id } }", token=token)) == ["UNAUTHENTICATED"]
