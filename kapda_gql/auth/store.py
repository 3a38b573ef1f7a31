"""All SQL of accounts: SQLAlchemy Core on the ORM session, and the per-request token check as plain
SQL on a lean unit (every request with a token pays for it, so it is one driver statement)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from kapda_gql.cart import store as cart_store
from kapda_gql.db.models import Designer, RevokedToken, User
from kapda_gql.db.sql import Record, violated_constraint
from kapda_gql.db.uow import LeanUnit, OrmUnit
from kapda_gql.domain.enums import Role

# The unique index on lower(email) (kapda_gql.db.models): a concurrent registration lost the race.
EMAIL_UNIQUE = "uq_users_email_lower"


async def email_taken(tx: OrmUnit, email: str) -> bool:
    return bool(await tx.session.scalar(select(exists().where(func.lower(User.email) == email.lower()))))


async def user_by_email(tx: OrmUnit, email: str) -> User | None:
    return await tx.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def add_user(tx: OrmUnit, *, email: str, password_hash: str, name: str, role: Role) -> User | None:
    """The new user (and its designer profile for designers); None when the e-mail is taken."""
    user = User(email=email, password_hash=password_hash, name=name, role=role.value)
    tx.session.add(user)
    try:
        await tx.session.flush()
    except IntegrityError as error:
        if violated_constraint(error) == EMAIL_UNIQUE:
            return None
        raise
    if role is Role.DESIGNER:
        tx.session.add(Designer(user_id=user.id, name=name))
    return user


async def locked_user(tx: OrmUnit, user_id: int) -> User | None:
    return await tx.session.get(User, user_id, with_for_update=True)


async def set_status(tx: OrmUnit, user_id: int, status: str) -> None:
    await tx.session.execute(update(User).where(User.id == user_id).values(status=status))


async def revoke_and_empty_cart(tx: OrmUnit, *, jti: str, expires_at: datetime, user_id: int) -> None:
    """Logout: the token revoked everywhere (it is in PostgreSQL) and the cart emptied."""
    await tx.session.execute(
        pg_insert(RevokedToken).values(jti=jti, expires_at=expires_at).on_conflict_do_nothing()
    )
    await cart_store.empty(tx, user_id)


# The user, its designer profile and whether the token was revoked, in one statement.
_AUTHENTICATE = """
    SELECT u.role, u.status, d.id, EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2)
    FROM users u LEFT JOIN designers d ON d.user_id = u.id
    WHERE u.id = $1
"""


async def token_owner(tx: LeanUnit, *, user_id: int, jti: str) -> Record | None:
    """(role, status, designer id, revoked) of the token's user; None when the user is gone."""
    return await tx.sql.fetchrow(_AUTHENTICATE, user_id, jti)
