"""Who may do what: the one place that decides.

Services ask these functions before they change or reveal anything; the
GraphQL layer never makes its own authorization decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapda_gql.domain.enums import OrderStatus, ProductStatus, Role
from kapda_gql.domain.errors import Forbidden, NotFound, Unauthenticated


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service, and where the call came from (for the audit log)."""

    user_id: int | None = None
    role: Role | None = None
    designer_id: int | None = None
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    system: bool = False

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN or self.system

    @property
    def is_designer(self) -> bool:
        return self.role is Role.DESIGNER and self.designer_id is not None

    @classmethod
    def system_actor(cls, reason: str) -> Actor:
        """Webhooks, the CLI and background workers act as the system, not as a user."""
        return cls(system=True, request_id=reason)


def require_user(actor: Actor) -> int:
    if actor.user_id is None:
        raise Unauthenticated()
    return actor.user_id


def require_admin(actor: Actor) -> None:
    require_user(actor) if not actor.system else None
    if not actor.is_admin:
        raise Forbidden("Only admins may do this")


def require_catalog_manager(actor: Actor) -> None:
    """Designers manage their own products, admins all products."""
    if actor.system:
        return
    require_user(actor)
    if not (actor.is_admin or actor.is_designer):
        raise Forbidden("Only designers and admins manage products")


def visible_product_statuses(actor: Actor) -> tuple[ProductStatus, ...] | None:
    """Statuses the caller sees for products that are not its own; None means all."""
    if actor.is_admin:
        return None
    return (ProductStatus.APPROVED,)


def can_see_product(actor: Actor, *, status: str, designer_id: int, deleted: bool) -> bool:
    if deleted:
        return False  # soft-deleted products are hidden everywhere; only order history keeps them
    if actor.is_admin or status == ProductStatus.APPROVED:
        return True
    return actor.is_designer and actor.designer_id == designer_id


def check_manage_product(actor: Actor, *, designer_id: int) -> None:
    """A designer touching another designer's product learns nothing about it."""
    require_catalog_manager(actor)
    if actor.is_admin:
        return
    if actor.designer_id != designer_id:
        raise NotFound("Product not found")


def can_see_order(actor: Actor, *, owner_id: int, designer_ids: frozenset[int]) -> bool:
    if actor.is_admin:
        return True
    if actor.user_id is not None and actor.user_id == owner_id:
        return True
    return actor.is_designer and actor.designer_id in designer_ids


CUSTOMER_CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.PROCESSING})


def check_transition(actor: Actor, *, owner_id: int, current: OrderStatus, target: OrderStatus) -> None:
    """Role rules of the order lifecycle; the transition table itself lives in services.orders."""
    if actor.is_admin:
        return
    require_user(actor)
    if actor.user_id == owner_id and target is OrderStatus.CANCELED and current in CUSTOMER_CANCELLABLE:
        return
    raise Forbidden(
        "Customers may only cancel their own order while it is PENDING or PROCESSING"
        if actor.user_id == owner_id
        else "Only admins may change this order's status"
    )


@dataclass(frozen=True, slots=True)
class CatalogScope:
    """Which products a caller's catalog lists: all, the approved ones plus a designer's own, or
    the approved ones only. Deleted products are in no scope. The catalog's SQL is built from this,
    so a list and ``can_see_product`` cannot disagree."""

    everything: bool = False
    own_designer_id: int | None = None


def catalog_scope(actor: Actor) -> CatalogScope:
    if actor.is_admin:
        return CatalogScope(everything=True)
    if actor.is_designer:
        return CatalogScope(own_designer_id=actor.designer_id)
    return CatalogScope()
