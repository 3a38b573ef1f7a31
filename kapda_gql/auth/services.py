"""Accounts: register, log in and out, authenticate a token, manage users."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from kapda_gql.auth import store
from kapda_gql.auth.security import TokenClaims, decode_token, hash_password, issue_token, verify_password
from kapda_gql.core import audit
from kapda_gql.db.models import User
from kapda_gql.db.uow import OrmUnit, UnitOfWork
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

    async def work(tx: OrmUnit) -> User:
        if await store.email_taken(tx, email):
            raise EmailTaken()
        user = await store.add_user(tx, email=email, password_hash=password_hash, name=name, role=role)
        if user is None:  # a concurrent registration won the race for this e-mail
            raise EmailTaken()
        await audit.record(
            tx,
            # Someone registering is the actor of their own creation.
            actor if actor.authenticated or actor.system else replace(actor, user_id=user.id),
            "user.created",
            "User",
            user.id,
            {"email": email, "role": role.value},
        )
        await tx.commit()
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
        async with uow.orm(read=True) as tx:
            user = await store.user_by_email(tx, email)
    # Verified even for an unknown e-mail, so timing does not reveal which accounts exist.
    ok = await verify_password(user.password_hash if user else None, password[:MAX_PASSWORD])
    if user is None or not ok:
        raise InvalidCredentials()
    if user.status == UserStatus.SUSPENDED:
        raise AccountSuspended()
    token, claims = issue_token(secret, user.id, ttl)
    return AuthResult(token, claims.expires_at, user)


async def authenticate(uow: UnitOfWork, token: str, *, secret: str) -> Principal:
    claims: TokenClaims = decode_token(secret, token)
    async with uow.lean(read=True) as tx:
        row = await store.token_owner(tx, user_id=claims.user_id, jti=claims.jti)
    if row is None or row[3]:
        raise Unauthenticated("The token has been revoked" if row is not None else "The token is invalid")
    if row[1] == UserStatus.SUSPENDED:
        raise AccountSuspended()
    return Principal(claims.user_id, Role(row[0]), row[2], claims.jti, claims.expires_at)


async def logout(uow: UnitOfWork, actor: Actor, principal: Principal) -> None:
    """Revoke the token everywhere (it is in PostgreSQL) and empty the cart."""

    async def work(tx: OrmUnit) -> None:
        await store.revoke_and_empty_cart(
            tx, jti=principal.jti, expires_at=principal.expires_at, user_id=principal.user_id
        )
        await tx.commit()

    await uow.run(work)


async def set_user_status(uow: UnitOfWork, actor: Actor, user_id: int, status: UserStatus) -> User:
    require_admin(actor)

    async def work(tx: OrmUnit) -> User:
        user = await store.locked_user(tx, user_id)
        if user is None:
            raise NotFound("User not found")
        check_set_user_status(actor, user_id=user.id, status=status)
        before = user.status
        if before != status.value:
            await store.set_status(tx, user_id, status.value)
            user.status = status.value
            await audit.record(
                tx,
                actor,
                "user.status_changed",
                "User",
                user_id,
                {"status": {"from": before, "to": status.value}},
            )
        await tx.commit()
        return user

    return await uow.run(work)


async def ensure_user(
    uow: UnitOfWork, *, email: str, password: str, name: str, role: Role
) -> tuple[User, bool]:
    """For the demo loader: the user with this e-mail, created if missing."""
    async with uow.orm() as tx:
        existing = await store.user_by_email(tx, email)
    if existing is not None:
        return existing, False
    try:
        return await create_user(
            uow, Actor.system_actor("demo"), email=email, password=password, name=name, role=role
        ), True
    except EmailTaken:
        async with uow.orm() as tx:
            user = await store.user_by_email(tx, email)
        assert user is not None
        return user, False
