"""Accounts: register, log in and out, authenticate a token, manage users."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from kapda_gql.auth.security import TokenClaims, decode_token, hash_password, issue_token, verify_password
from kapda_gql.core import audit
from kapda_gql.db.models import Cart, CartLine, Designer, RevokedToken, User
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.enums import Role, UserStatus
from kapda_gql.domain.errors import (
    AccountSuspended,
    EmailTaken,
    InvalidCredentials,
    NotFound,
    Unauthenticated,
)
from kapda_gql.domain.policy import Actor, check_set_user_status, require_admin
from kapda_gql.domain.validation import MAX_PASSWORD, could_be_email, validate_account


@dataclass(frozen=True, slots=True)
class AuthResult:
    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    role: Role
    designer_id: int | None
    jti: str
    expires_at: datetime


async def create_user(
    uow: UnitOfWork, actor: Actor, *, email: str, password: str, name: str, role: Role = Role.CUSTOMER
) -> User:
    """Make a user (and its designer profile for designers); EMAIL_TAKEN case-insensitively."""
    email, name = validate_account(email, password, name)
    password_hash = await hash_password(password)

    async def work(uow: UnitOfWork) -> User:
        taken = await uow.session.scalar(select(exists().where(func.lower(User.email) == email.lower())))
        if taken:
            raise EmailTaken()
        user = User(email=email, password_hash=password_hash, name=name, role=role.value)
        uow.session.add(user)
        try:
            await uow.session.flush()
        except IntegrityError:  # a concurrent registration won the race for this e-mail
            raise EmailTaken() from None
        if role is Role.DESIGNER:
            uow.session.add(Designer(user_id=user.id, name=name))
        await audit.record(
            uow,
            # Someone registering is the actor of their own creation.
            actor if actor.authenticated or actor.system else replace(actor, user_id=user.id),
            "user.created",
            "User",
            user.id,
            {"email": email, "role": role.value},
        )
        await uow.commit()
        return user

    return await uow.run(work)


async def register(
    uow: UnitOfWork, actor: Actor, *, email: str, password: str, name: str, secret: str, ttl: int
) -> AuthResult:
    user = await create_user(uow, actor, email=email, password=password, name=name)
    token, claims = issue_token(secret, user.id, ttl)
    return AuthResult(token, claims.expires_at, user)


async def login(
    uow: UnitOfWork, actor: Actor, *, email: str, password: str, secret: str, ttl: int
) -> AuthResult:
    email = email.strip()
    user = None
    # An over-long e-mail or one with a control character belongs to no account: skip the lookup.
    if could_be_email(email):
        async with uow.read():
            user = await uow.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    # Verified even for an unknown e-mail, so timing does not reveal which accounts exist.
    ok = await verify_password(user.password_hash if user else None, password[:MAX_PASSWORD])
    if user is None or not ok:
        raise InvalidCredentials()
    if user.status == UserStatus.SUSPENDED:
        raise AccountSuspended()
    token, claims = issue_token(secret, user.id, ttl)
    return AuthResult(token, claims.expires_at, user)


# The user, its designer profile and whether the token was revoked: every request with a token
# pays for this, so it is one statement on a lean unit.
_AUTHENTICATE = """
    SELECT u.role, u.status, d.id, EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2)
    FROM users u LEFT JOIN designers d ON d.user_id = u.id
    WHERE u.id = $1
"""


async def authenticate(uow: UnitOfWork, token: str, *, secret: str) -> Principal:
    claims: TokenClaims = decode_token(secret, token)
    async with uow.lean().read():
        row = await uow.sql.fetchrow(_AUTHENTICATE, claims.user_id, claims.jti)
    if row is None or row[3]:
        raise Unauthenticated("The token has been revoked" if row is not None else "The token is invalid")
    if row[1] == UserStatus.SUSPENDED:
        raise AccountSuspended()
    return Principal(claims.user_id, Role(row[0]), row[2], claims.jti, claims.expires_at)


async def logout(uow: UnitOfWork, actor: Actor, principal: Principal) -> None:
    """Revoke the token everywhere (it is in PostgreSQL) and empty the cart."""

    async def work(uow: UnitOfWork) -> None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await uow.session.execute(
            pg_insert(RevokedToken)
            .values(jti=principal.jti, expires_at=principal.expires_at)
            .on_conflict_do_nothing()
        )
        cart_ids = select(Cart.id).where(Cart.user_id == principal.user_id).scalar_subquery()
        await uow.session.execute(delete(CartLine).where(CartLine.cart_id.in_(cart_ids)))
        await uow.commit()

    await uow.run(work)


async def set_user_status(uow: UnitOfWork, actor: Actor, user_id: int, status: UserStatus) -> User:
    require_admin(actor)

    async def work(uow: UnitOfWork) -> User:
        user = await uow.session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("User not found")
        check_set_user_status(actor, user_id=user.id, status=status)
        before = user.status
        if before != status.value:
            await uow.session.execute(update(User).where(User.id == user_id).values(status=status.value))
            user.status = status.value
            await audit.record(
                uow,
                actor,
                "user.status_changed",
                "User",
                user_id,
                {"status": {"from": before, "to": status.value}},
            )
        await uow.commit()
        return user

    return await uow.run(work)


async def ensure_user(
    uow: UnitOfWork, *, email: str, password: str, name: str, role: Role
) -> tuple[User, bool]:
    """For the demo loader: the user with this e-mail, created if missing."""
    async with uow:
        existing = await uow.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if existing is not None:
        return existing, False
    try:
        return await create_user(
            uow, Actor.system_actor("demo"), email=email, password=password, name=name, role=role
        ), True
    except EmailTaken:
        async with uow:
            user = await uow.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        assert user is not None
        return user, False
