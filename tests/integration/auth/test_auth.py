"""register, login, me, logout and setUserStatus, end to end through GraphQL on real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from kapda_gql.app import build_runtime, create_app
from kapda_gql.config import Settings
from tests.support.apps import PASSWORD
from tests.support.assertions import audit_rows, bad_fields

REGISTER = """
mutation($input: RegisterInput!) {
  register(input: $input) { token expiresAt user { id email name role } }
}"""
LOGIN = """
mutation($input: LoginInput!) {
  login(input: $input) { token expiresAt user { id email name role } }
}"""
ME = "{ me { id email name role } }"
LOGOUT = "mutation { logout { ok clearLocalStorage } }"
SET_STATUS = """
mutation($id: ID!, $status: UserStatus!) {
  setUserStatus(userId: $id, status: $status) { id email status createdAt }
}"""


def _register_vars(email: str, password: str = "long enough pw", name: str = "Asha Rao") -> dict[str, Any]:
    return {"input": {"email": email, "password": password, "name": name}}


# --- register -------------------------------------------------------------------------------------


async def test_register_returns_a_working_token_and_stores_argon2id(
    api: Any, db: Any, settings: Settings
) -> None:
    before = datetime.now(UTC)
    data = await api.ok(REGISTER, _register_vars("Asha@Example.com", name="  Asha Rao "))
    payload = data["register"]
    assert payload["user"]["email"] == "Asha@Example.com"
    assert payload["user"]["name"] == "Asha Rao"
    assert payload["user"]["role"] == "CUSTOMER"

    claims = jwt.decode(payload["token"], settings.jwt_secret.encode(), algorithms=["HS256"])
    assert set(claims) >= {"sub", "jti", "iat", "exp"}
    assert claims["sub"] == payload["user"]["id"]
    assert claims["exp"] - claims["iat"] == settings.token_ttl_seconds
    assert jwt.get_unverified_header(payload["token"])["alg"] == "HS256"
    expires = datetime.fromisoformat(payload["expiresAt"])
    assert expires.tzinfo is not None
    assert abs(expires - (before + timedelta(seconds=settings.token_ttl_seconds))) < timedelta(seconds=10)

    me = await api.ok(ME, token=payload["token"])
    assert me["me"] == payload["user"]

    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", int(payload["user"]["id"]))
    assert stored.startswith("$argon2id$")
    assert "long enough pw" not in stored

    [entry] = await audit_rows(db, "user.created")
    assert entry["actor_id"] == int(payload["user"]["id"])
    assert entry["target_type"] == "User"
    assert entry["changes"]["role"] == "CUSTOMER"


@pytest.mark.parametrize(
    ("email", "password", "name", "fields"),
    [
        ("not-an-email", "long enough pw", "Asha", {"email"}),
        ("asha@", "long enough pw", "Asha", {"email"}),
        ("asha@example.com", "short", "Asha", {"password"}),
        ("asha@example.com", "long enough pw", "   ", {"name"}),
        ("nope", "1234567", "", {"email", "password", "name"}),
        # PostgreSQL refuses NUL in text: it must be a validation error, not a 500.
        ("as\x00ha@example.com", "long enough pw", "Asha", {"email"}),
        ("asha@example.com", "long enough pw", "As\x00ha", {"name"}),
        ("asha@example.com", "long enough pw", "Asha\nRao", {"name"}),
    ],
)
async def test_register_validation_names_each_bad_field(
    api: Any, db: Any, email: str, password: str, name: str, fields: set[str]
) -> None:
    error = await api.error(REGISTER, _register_vars(email, password, name))
    assert bad_fields(error) == fields
    assert error["extensions"]["requestId"]
    assert all(f["message"] for f in error["extensions"]["fields"])
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_register_email_taken_is_case_insensitive(api: Any, db: Any) -> None:
    await api.ok(REGISTER, _register_vars("meera@example.com"))
    for variant in ("MEERA@example.com", "Meera@Example.COM", "  meera@example.com  "):
        error = await api.error(REGISTER, _register_vars(variant))
        assert error["extensions"]["code"] == "EMAIL_TAKEN", variant
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_concurrent_double_registration_makes_one_user(api: Any, db: Any) -> None:
    bodies = await asyncio.gather(
        *(api(REGISTER, _register_vars(f"twin@{'EXAMPLE' if i % 2 else 'example'}.com")) for i in range(4))
    )
    winners = [b for b in bodies if not b.get("errors")]
    losers = [b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors")]
    assert len(winners) == 1
    assert losers == ["EMAIL_TAKEN"] * 3
    assert await db.fetchval("SELECT count(*) FROM users WHERE lower(email) = 'twin@example.com'") == 1


# --- login ----------------------------------------------------------------------------------------


async def test_login_with_any_email_case(api: Any, make_user: Any) -> None:
    user = await make_user("DESIGNER", email="Studio@Example.com")
    data = await api.ok(LOGIN, {"input": {"email": " studio@EXAMPLE.com ", "password": PASSWORD}})
    assert data["login"]["user"] == {
        "id": str(user.id),
        "email": "Studio@Example.com",
        "name": data["login"]["user"]["name"],
        "role": "DESIGNER",
    }
    me = await api.ok(ME, token=data["login"]["token"])
    assert me["me"]["id"] == str(user.id)


async def test_wrong_email_and_wrong_password_get_the_same_answer(api: Any, make_user: Any) -> None:
    user = await make_user()
    wrong_password = await api.error(LOGIN, {"input": {"email": user.email, "password": "not the password"}})
    wrong_email = await api.error(LOGIN, {"input": {"email": "nobody@example.com", "password": PASSWORD}})
    for error in (wrong_password, wrong_email):
        assert error["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert wrong_password["message"] == wrong_email["message"]
    assert set(wrong_password["extensions"]) == set(wrong_email["extensions"])
    for odd in ("a" * 300 + "@example.com", ""):
        error = await api.error(LOGIN, {"input": {"email": odd, "password": PASSWORD}})
        assert error["extensions"]["code"] == "INVALID_CREDENTIALS", odd
    # Text no account can hold is refused before the database, alike for every account (API.md).
    error = await api.error(LOGIN, {"input": {"email": "x\x00y@example.com", "password": PASSWORD}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["email"]


async def test_suspended_user_cannot_log_in(api: Any, make_user: Any, db: Any) -> None:
    user = await make_user()
    await db.execute("UPDATE users SET status = 'SUSPENDED' WHERE id = $1", user.id)
    error = await api.error(LOGIN, {"input": {"email": user.email, "password": PASSWORD}})
    assert error["extensions"]["code"] == "ACCOUNT_SUSPENDED"
    # The wrong password must not reveal that the account exists and is suspended.
    error = await api.error(LOGIN, {"input": {"email": user.email, "password": "wrong password!"}})
    assert error["extensions"]["code"] == "INVALID_CREDENTIALS"


# --- tokens and me ----------------------------------------------------------------------------------


async def test_me_is_null_when_anonymous(api: Any) -> None:
    assert (await api.ok(ME)) == {"me": None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(user_id: int | str, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(user_id), "jti": "j" * 32, "iat": now, "exp": now + 600, **over}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_bad_tokens_are_unauthenticated_never_anonymous(
    api: Any, make_user: Any, settings: Settings
) -> None:
    user = await make_user()
    key = settings.jwt_secret.encode()
    now = int(time.time())
    bad = {
        "garbage": "not.a.token",
        "wrong key": jwt.encode(_claims(user.id), b"another-secret-" + b"y" * 40, algorithm="HS256"),
        "expired": jwt.encode(_claims(user.id, iat=now - 7200, exp=now - 3600), key, algorithm="HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user.id))}.",
        "HS512": jwt.encode(_claims(user.id), key, algorithm="HS512"),
        "no jti": jwt.encode(
            {k: v for k, v in _claims(user.id).items() if k != "jti"}, key, algorithm="HS256"
        ),
        "no exp": jwt.encode(
            {k: v for k, v in _claims(user.id).items() if k != "exp"}, key, algorithm="HS256"
        ),
        "unknown user": jwt.encode(_claims(999_999), key, algorithm="HS256"),
        "non-numeric sub": jwt.encode(_claims("abc"), key, algorithm="HS256"),
        "huge sub": jwt.encode(_claims("9" * 30), key, algorithm="HS256"),
        "negative sub": jwt.encode(_claims(-1), key, algorithm="HS256"),
    }
    for name, token in bad.items():
        body = await api(ME, token=token)
        assert body["data"] is None, name
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], (name, body)
        assert body["errors"][0]["extensions"]["requestId"]
    # A malformed Authorization header is a bad token too.
    r = await api.client.post("/graphql", json={"query": ME}, headers={"Authorization": "Basic abc"})
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The same claims, correctly signed, do work: the failures above are about the token alone.
    good = jwt.encode(_claims(user.id), key, algorithm="HS256")
    assert (await api.ok(ME, token=good))["me"]["id"] == str(user.id)


# --- logout ---------------------------------------------------------------------------------------


async def _fill_cart(db: Any, user_id: int, make_user: Any, make_product: Any) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(designer.designer_id)
    cart_id = await db.fetchval("INSERT INTO carts (user_id) VALUES ($1) RETURNING id", user_id)
    await db.execute(
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, unit_price) VALUES ($1, $2, 2, 129900)",
        cart_id,
        product["variant_ids"][0],
    )


async def test_logout_revokes_the_token_and_empties_the_cart(
    api: Any, db: Any, make_user: Any, make_product: Any
) -> None:
    user = await make_user()
    other_session = await api.ok(LOGIN, {"input": {"email": user.email, "password": PASSWORD}})
    await _fill_cart(db, user.id, make_user, make_product)

    data = await api.ok(LOGOUT, token=user.token)
    assert data == {"logout": {"ok": True, "clearLocalStorage": True}}

    error = await api.error(ME, token=user.token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await api.error(LOGOUT, token=user.token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await db.fetchval("SELECT count(*) FROM cart_lines") == 0
    jti = jwt.decode(user.token, options={"verify_signature": False})["jti"]
    assert await db.fetchval("SELECT count(*) FROM revoked_tokens WHERE jti = $1", jti) == 1
    # Only that token is revoked: another session of the same user goes on working.
    me = await api.ok(ME, token=other_session["login"]["token"])
    assert me["me"]["id"] == str(user.id)


async def test_logout_needs_a_token(api: Any) -> None:
    error = await api.error(LOGOUT)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_revocation_is_seen_by_another_worker(api: Any, make_user: Any, settings: Settings) -> None:
    """Revoked tokens live in PostgreSQL: a second app (another worker or replica) rejects them too."""
    user = await make_user()
    second = build_runtime(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=second))
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as other:
            query = {"query": ME}
            headers = {"Authorization": f"Bearer {user.token}"}
            assert (await other.post("/graphql", json=query, headers=headers)).json()["data"]["me"]
            await api.ok(LOGOUT, token=user.token)
            body = (await other.post("/graphql", json=query, headers=headers)).json()
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        await second.db.dispose()


# --- setUserStatus --------------------------------------------------------------------------------


async def test_admin_suspends_and_reactivates_a_user(
    api: Any, db: Any, make_user: Any, client_ip: str
) -> None:
    admin = await make_user("ADMIN")
    customer = await make_user()
    assert (await api.ok(ME, token=customer.token))["me"]["id"] == str(customer.id)

    body = await api(
        SET_STATUS,
        {"id": str(customer.id), "status": "SUSPENDED"},
        token=admin.token,
        X_Request_Id="req-suspend-1",
    )
    assert not body.get("errors"), body
    changed = body["data"]["setUserStatus"]
    assert changed.pop("createdAt")
    assert changed == {"id": str(customer.id), "email": customer.email, "status": "SUSPENDED"}
    assert await db.fetchval("SELECT status FROM users WHERE id = $1", customer.id) == "SUSPENDED"

    # The token issued before the suspension stops working at once.
    error = await api.error(ME, token=customer.token)
    assert error["extensions"]["code"] == "ACCOUNT_SUSPENDED"

    [entry] = await audit_rows(db, "user.status_changed")
    assert entry["actor_id"] == admin.id
    assert (entry["target_type"], entry["target_id"]) == ("User", str(customer.id))
    assert entry["changes"] == {"status": {"from": "ACTIVE", "to": "SUSPENDED"}}
    assert entry["request_id"] == "req-suspend-1"
    assert entry["ip"] == client_ip

    await api.ok(SET_STATUS, {"id": str(customer.id), "status": "ACTIVE"}, token=admin.token)
    assert (await api.ok(ME, token=customer.token))["me"]["id"] == str(customer.id)
    assert len(await audit_rows(db, "user.status_changed")) == 2


async def test_set_user_status_is_for_admins_only(api: Any, db: Any, make_user: Any) -> None:
    target = await make_user()
    for role in ("CUSTOMER", "DESIGNER"):
        caller = await make_user(role)
        response = await api.post(
            SET_STATUS,
            {"id": str(target.id), "status": "SUSPENDED"},
            token=caller.token,
            X_Request_Id=f"rid-{role}",
        )
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN", role
        # The client's request id comes back on the error and in the header.
        assert error["extensions"]["requestId"] == response.headers["x-request-id"] == f"rid-{role}"
    error = await api.error(SET_STATUS, {"id": str(target.id), "status": "SUSPENDED"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await db.fetchval("SELECT status FROM users WHERE id = $1", target.id) == "ACTIVE"
    assert await audit_rows(db, "user.status_changed") == []


async def test_set_user_status_edge_cases(api: Any, make_user: Any) -> None:
    admin = await make_user("ADMIN")
    error = await api.error(SET_STATUS, {"id": "987654", "status": "SUSPENDED"}, token=admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(SET_STATUS, {"id": "not-an-id", "status": "SUSPENDED"}, token=admin.token)
    assert bad_fields(error) == {"userId"}
    error = await api.error(SET_STATUS, {"id": str(admin.id), "status": "SUSPENDED"}, token=admin.token)
    assert bad_fields(error) == {"userId"}
