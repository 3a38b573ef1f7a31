"""Who may see or do what: the one place that decides.

Services ask these functions before they change or reveal anything, and GraphQL fields that
reveal something only to some callers ask them too; nobody else makes an authorization decision.
Two answers a caller may get when refused: NOT_FOUND when it may not even know the thing exists
(another customer's order, a designer's draft), FORBIDDEN when it can see the thing but may not
change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapda_gql.domain.enums import OrderStatus, ProductStatus, Role, UserStatus
from kapda_gql.domain.errors import BadUserInput, Forbidden, NotFound, Unauthenticated
from kapda_gql.domain.lifecycles import ORDER, LineChange


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
    # Which part of the service acts when the system does ("webhook", "cli", "refunds").
    source: str | None = None

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
    def system_actor(cls, source: str) -> Actor:
        """Webhooks, the CLI and background workers act as the system, not as a user."""
        return cls(system=True, source=source)


# --- who is calling --------------------------------------------------------------------------


def require_user(actor: Actor) -> int:
    if actor.user_id is None:
        raise Unauthenticated()
    return actor.user_id


def require_admin(actor: Actor) -> None:
    if not actor.system:
        require_user(actor)
    if not actor.is_admin:
        raise Forbidden("Only admins may do this")


def require_catalog_manager(actor: Actor) -> None:
    """Designers manage their own products, admins all products."""
    if actor.system:
        return
    require_user(actor)
    if not (actor.is_admin or actor.is_designer):
        raise Forbidden("Only designers and admins manage products")


# --- products --------------------------------------------------------------------------------


def owns_product(actor: Actor, designer_id: int) -> bool:
    return actor.is_designer and actor.designer_id == designer_id


def can_see_product(actor: Actor, *, status: str, designer_id: int, deleted: bool) -> bool:
    """Anyone sees approved products, a designer its own in any status, an admin all.

    Soft-deleted products are hidden from everyone; only order history keeps them.
    """
    if deleted:
        return False
    if actor.is_admin or status == ProductStatus.APPROVED:
        return True
    return owns_product(actor, designer_id)


def can_see_rejection_reason(actor: Actor, *, designer_id: int) -> bool:
    """Why a product was rejected is between the admins and the product's designer."""
    return actor.is_admin or owns_product(actor, designer_id)


def can_see_pending_changes(actor: Actor, *, designer_id: int) -> bool:
    """A product's edits awaiting review are between its designer and the admins."""
    return actor.is_admin or owns_product(actor, designer_id)


def edits_wait_for_review(status: str) -> bool:
    """Whether a product's content edits (title, description, category, images, new variants)
    wait for an admin's review instead of going live: an approved product is public as an admin
    approved it. Its price changes apply at once (audited, big moves flagged)."""
    return status == ProductStatus.APPROVED


def can_see_held_stock(actor: Actor, *, designer_id: int) -> bool:
    """How many units open checkouts hold is the variant's designer's and the admins' business:
    anyone else sees only what it can buy (``Variant.stock``)."""
    return actor.is_admin or owns_product(actor, designer_id)


def check_manage_product(actor: Actor, *, designer_id: int, status: str) -> None:
    """A designer changes only its own products.

    Another designer's product it can see (an approved one) is FORBIDDEN; one it cannot see stays
    NOT_FOUND, so a designer learns nothing of another's drafts.
    """
    require_catalog_manager(actor)
    if actor.is_admin or owns_product(actor, designer_id):
        return
    if can_see_product(actor, status=status, designer_id=designer_id, deleted=False):
        raise Forbidden("Only the product's designer or an admin may change it")
    raise NotFound("Product not found")


def product_owner(actor: Actor, named: int | None) -> tuple[int | None, list[tuple[str, str]]]:
    """Whose new product this is: a designer's own; an admin must name the designer.

    Returns the owner (None when there is none) and the input problems, for the caller to report
    together with the rest of the input's.
    """
    owner = actor.designer_id if actor.is_designer and not actor.is_admin else named
    if owner is None:
        return None, [("designerId", "admins must say which designer the product belongs to")]
    if named is not None and named != owner:
        # Ignoring it silently would file the product under someone the caller did not name.
        return owner, [("designerId", "designers create products only for themselves")]
    return owner, []


# --- orders ----------------------------------------------------------------------------------


def can_see_order(actor: Actor, *, owner_id: int) -> bool:
    """An order is its customer's and the admins'. A designer with a line in it does not see it:
    the order names the customer, the address and the other designers' lines and prices. Its view
    of a sale is ``designer_orders_of``."""
    if actor.is_admin:
        return True
    return actor.user_id is not None and actor.user_id == owner_id


# How staff appear to anyone but an admin in an order's history: by role, under the shop's name.
SHOP_NAME = "Kapda Co."


@dataclass(frozen=True, slots=True)
class ChangeActor:
    """Who made a change to an order, as the viewer may see it (never an account's e-mail or id)."""

    role: Role
    name: str


def order_change_actor(
    viewer: Actor, *, owner_id: int, actor_id: int | None, actor_role: Role | None, actor_name: str | None
) -> ChangeActor | None:
    """The order's customer appears by its own name (to itself and to admins); staff appear by
    role with the shop's name, except to admins, who see which staff member it was. A change made
    by the system (or by an account since removed) has no actor."""
    if actor_id is None or actor_role is None or actor_name is None:
        return None
    if actor_id == owner_id:
        return ChangeActor(Role.CUSTOMER, actor_name)
    if viewer.is_admin:
        return ChangeActor(actor_role, actor_name)
    return ChangeActor(actor_role, SHOP_NAME)


def sales_designer(actor: Actor, named: int | None) -> int:
    """Whose sales ``designerOrders`` lists: a designer its own (naming another is FORBIDDEN),
    an admin the designer it names (it must name one)."""
    require_user(actor)
    if actor.is_admin:
        if named is None:
            raise BadUserInput("designerId", "admins must name a designer")
        return named
    if not actor.is_designer:
        raise Forbidden("Only designers and admins see designers' sales")
    assert actor.designer_id is not None
    if named is not None and named != actor.designer_id:
        raise Forbidden("Designers see only their own sales")
    return actor.designer_id


def order_list_owner(actor: Actor) -> int | None:
    """Whose orders ``orders`` lists: the caller's own, or everyone's (None) for an admin."""
    user_id = require_user(actor)
    return None if actor.is_admin else user_id


def check_reorder(actor: Actor, *, owner_id: int | None) -> None:
    """Only an order's own customer may put it in their cart again; to anyone else it is not there."""
    if owner_id is None or owner_id != require_user(actor):
        raise NotFound("Order not found")


def stats_designer(actor: Actor, named: int | None) -> int:
    """Whose designer figures the caller gets: a designer its own; an admin those it names."""
    require_user(actor)
    target = named if actor.is_admin and named is not None else actor.designer_id
    if target is None:
        if actor.is_admin:
            raise BadUserInput("designerId", "admins must name a designer")
        raise Forbidden("Only designers have stats")
    return target


CUSTOMER_CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.PROCESSING})


def order_moves(actor: Actor, *, owner_id: int, current: OrderStatus) -> frozenset[OrderStatus] | None:
    """The statuses this caller may move the order to from ``current``, besides what the
    lifecycle allows; None means any (admins and the system)."""
    if actor.is_admin:
        return None
    if actor.user_id == owner_id and current in CUSTOMER_CANCELLABLE:
        return frozenset({OrderStatus.CANCELED})
    return frozenset()


def check_transition(actor: Actor, *, owner_id: int, current: OrderStatus, target: OrderStatus) -> None:
    """May this caller move the order from ``current`` to ``target``?

    A move the lifecycle does not have is INVALID_TRANSITION, whose ``allowed`` names only what this
    caller may do; a move it has that the caller may not make is FORBIDDEN.
    """
    if not actor.system:
        require_user(actor)
    permitted = order_moves(actor, owner_id=owner_id, current=current)
    if permitted is not None and actor.user_id != owner_id:
        # Neither an admin nor the customer (a designer of one of its lines): no move is ever theirs,
        # so the lifecycle's answer (INVALID_TRANSITION, with what is allowed) is none of theirs either.
        raise Forbidden("Only admins may change this order's status")
    ORDER.check(current, target, within=None if ORDER.can(current, target) else permitted)
    if permitted is None or target in permitted:
        return
    raise Forbidden(
        "Customers may only cancel their own order while it is PENDING or PROCESSING"
        if actor.user_id == owner_id
        else "Only admins may change this order's status"
    )


def check_line_change(actor: Actor, *, owner_id: int, change: LineChange) -> None:
    """Who may cancel or return lines of an order.

    An admin may do both; the order's customer may cancel its own lines but not record a return
    (FORBIDDEN: it sees the order); to anyone else the order is not there (NOT_FOUND).
    """
    if actor.is_admin:
        return
    if actor.user_id is None or actor.user_id != owner_id:
        raise NotFound("Order not found")
    if change is LineChange.RETURN:
        raise Forbidden("Only admins record returns, once the goods are back")


# --- users -----------------------------------------------------------------------------------


def check_set_user_status(actor: Actor, *, user_id: int, status: UserStatus) -> None:
    """Admins suspend and reinstate accounts, but never suspend themselves (they could not undo it)."""
    require_admin(actor)
    if user_id == actor.user_id and status is UserStatus.SUSPENDED:
        raise BadUserInput("userId", "admins cannot suspend themselves")


# --- catalog lists ---------------------------------------------------------------------------


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


# --- stock ledger ----------------------------------------------------------------------------


def check_read_stock_movements(actor: Actor, *, designer_id: int, status: str, deleted: bool) -> None:
    """A variant's stock movements are for its product's designer and admins (history survives a
    soft delete for them); anyone who can see the product otherwise is FORBIDDEN, the rest NOT_FOUND."""
    if actor.system or actor.is_admin:
        return
    require_user(actor)
    if owns_product(actor, designer_id):
        return
    if can_see_product(actor, status=status, designer_id=designer_id, deleted=deleted):
        raise Forbidden("Only the product's designer or an admin may read its stock movements")
    raise NotFound("Variant not found")
