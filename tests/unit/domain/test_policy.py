"""The policy as tables: role, ownership and status → decision."""

from __future__ import annotations

import itertools

import pytest

from kapda_gql.domain import policy
from kapda_gql.domain.enums import OrderStatus, ProductStatus, Role, UserStatus
from kapda_gql.domain.errors import (
    BadUserInput,
    DomainError,
    Forbidden,
    InvalidTransition,
    NotFound,
    Unauthenticated,
)
from kapda_gql.domain.policy import Actor

ANON = Actor()
CUSTOMER = Actor(user_id=1, role=Role.CUSTOMER)
DESIGNER = Actor(user_id=2, role=Role.DESIGNER, designer_id=20)  # owns designer 20's products
OTHER_DESIGNER = Actor(user_id=3, role=Role.DESIGNER, designer_id=30)
ADMIN = Actor(user_id=4, role=Role.ADMIN)
SYSTEM = Actor.system_actor("webhook")
ACTORS = {"anon": ANON, "customer": CUSTOMER, "owner": DESIGNER, "other": OTHER_DESIGNER, "admin": ADMIN}
OWN = 20


def test_the_system_actor_names_its_source_and_no_request() -> None:
    assert SYSTEM.system and SYSTEM.is_admin and SYSTEM.source == "webhook"
    assert SYSTEM.request_id is None and SYSTEM.user_id is None


# Who sees a product, by status (not deleted): anonymous and customers only APPROVED.
SEES = {
    "anon": {"APPROVED"},
    "customer": {"APPROVED"},
    "owner": {"DRAFT", "PENDING_REVIEW", "APPROVED", "REJECTED"},
    "other": {"APPROVED"},
    "admin": {"DRAFT", "PENDING_REVIEW", "APPROVED", "REJECTED"},
}


@pytest.mark.parametrize(("who", "status"), list(itertools.product(ACTORS, ProductStatus)))
def test_product_visibility(who: str, status: ProductStatus) -> None:
    actor = ACTORS[who]
    assert policy.can_see_product(actor, status=status, designer_id=OWN, deleted=False) is (
        status in SEES[who]
    )
    assert policy.can_see_product(actor, status=status, designer_id=OWN, deleted=True) is False


@pytest.mark.parametrize("who", list(ACTORS))
def test_rejection_reason_visibility(who: str) -> None:
    assert policy.can_see_rejection_reason(ACTORS[who], designer_id=OWN) is (who in ("owner", "admin"))


# Changing a product: None = allowed; otherwise the error.
MANAGE: dict[str, dict[str, type[DomainError] | None]] = {
    "anon": dict.fromkeys(ProductStatus, Unauthenticated),
    "customer": dict.fromkeys(ProductStatus, Forbidden),
    "owner": dict.fromkeys(ProductStatus, None),
    # Another designer's approved product is visible: FORBIDDEN; the rest it cannot know of.
    "other": {
        ProductStatus.DRAFT: NotFound,
        ProductStatus.PENDING_REVIEW: NotFound,
        ProductStatus.APPROVED: Forbidden,
        ProductStatus.REJECTED: NotFound,
    },
    "admin": dict.fromkeys(ProductStatus, None),
}


@pytest.mark.parametrize(("who", "status"), list(itertools.product(ACTORS, ProductStatus)))
def test_managing_a_product(who: str, status: ProductStatus) -> None:
    expected = MANAGE[who][status]
    if expected is None:
        policy.check_manage_product(ACTORS[who], designer_id=OWN, status=status)
    else:
        with pytest.raises(expected):
            policy.check_manage_product(ACTORS[who], designer_id=OWN, status=status)
    policy.check_manage_product(SYSTEM, designer_id=OWN, status=status)


def test_product_owner_on_create() -> None:
    assert policy.product_owner(DESIGNER, None) == (20, [])
    assert policy.product_owner(DESIGNER, 20) == (20, [])
    owner, problems = policy.product_owner(DESIGNER, 30)
    assert owner == 20 and [f for f, _ in problems] == ["designerId"]
    assert policy.product_owner(ADMIN, 30) == (30, [])
    owner, problems = policy.product_owner(ADMIN, None)
    assert owner is None and [f for f, _ in problems] == ["designerId"]


# Orders: alice (user 1) owns it; designer 20 has a line in it, and still does not see it.
@pytest.mark.parametrize(
    ("who", "sees"),
    [("customer", True), ("owner", False), ("other", False), ("admin", True), ("anon", False)],
)
def test_order_visibility(who: str, sees: bool) -> None:
    assert policy.can_see_order(ACTORS[who], owner_id=1) is sees
    assert policy.can_see_order(SYSTEM, owner_id=1) is True


# Who made a change (customer 1 owns the order; user 4 is the admin who moved it), as each viewer sees it.
@pytest.mark.parametrize(
    ("viewer", "actor_id", "role", "expected"),
    [
        ("customer", 1, Role.CUSTOMER, (Role.CUSTOMER, "Alice")),
        ("customer", 4, Role.ADMIN, (Role.ADMIN, policy.SHOP_NAME)),
        ("admin", 1, Role.CUSTOMER, (Role.CUSTOMER, "Alice")),
        ("admin", 4, Role.ADMIN, (Role.ADMIN, "Asha Admin")),
        ("customer", None, None, None),
    ],
)
def test_order_change_actor(
    viewer: str, actor_id: int | None, role: Role | None, expected: tuple[Role, str] | None
) -> None:
    names = {1: "Alice", 4: "Asha Admin"}
    seen = policy.order_change_actor(
        ACTORS[viewer],
        owner_id=1,
        actor_id=actor_id,
        actor_role=role,
        actor_name=names.get(actor_id) if actor_id is not None else None,
    )
    assert (None if seen is None else (seen.role, seen.name)) == expected
    # Never an account's e-mail or id: the name shown is a person's own or the shop's.
    if seen is not None and viewer != "admin" and actor_id != 1:
        assert seen.name == "Kapda Co."


def test_sales_designer() -> None:
    assert policy.sales_designer(DESIGNER, None) == 20
    assert policy.sales_designer(DESIGNER, 20) == 20
    with pytest.raises(Forbidden):
        policy.sales_designer(DESIGNER, 30)  # another designer's sales
    assert policy.sales_designer(ADMIN, 30) == 30
    with pytest.raises(BadUserInput):
        policy.sales_designer(ADMIN, None)
    with pytest.raises(Forbidden):
        policy.sales_designer(CUSTOMER, None)
    with pytest.raises(Unauthenticated):
        policy.sales_designer(ANON, 20)


def test_order_lists_and_reorder() -> None:
    assert policy.order_list_owner(CUSTOMER) == 1
    assert policy.order_list_owner(DESIGNER) == 2
    assert policy.order_list_owner(ADMIN) is None
    with pytest.raises(Unauthenticated):
        policy.order_list_owner(ANON)
    policy.check_reorder(CUSTOMER, owner_id=1)
    for actor in (DESIGNER, ADMIN):
        with pytest.raises(NotFound):
            policy.check_reorder(actor, owner_id=1)
    with pytest.raises(NotFound):
        policy.check_reorder(CUSTOMER, owner_id=None)
    with pytest.raises(Unauthenticated):
        policy.check_reorder(ANON, owner_id=1)


def test_stats_designer() -> None:
    assert policy.stats_designer(DESIGNER, None) == 20
    assert policy.stats_designer(DESIGNER, 30) == 20  # a designer's own, whatever it names
    assert policy.stats_designer(ADMIN, 30) == 30
    with pytest.raises(BadUserInput):
        policy.stats_designer(ADMIN, None)
    with pytest.raises(Forbidden):
        policy.stats_designer(CUSTOMER, None)
    with pytest.raises(Unauthenticated):
        policy.stats_designer(ANON, None)


OS = OrderStatus
TABLE = {
    (OS.PENDING, OS.PROCESSING),
    (OS.PENDING, OS.CANCELED),
    (OS.PROCESSING, OS.SHIPPED),
    (OS.PROCESSING, OS.CANCELED),
    (OS.SHIPPED, OS.DELIVERED),
    (OS.SHIPPED, OS.CANCELED),
    (OS.DELIVERED, OS.REFUNDED),
}


@pytest.mark.parametrize(
    ("who", "current", "target"), list(itertools.product(["customer", "owner", "admin"], OS, OS))
)
def test_order_transitions_by_role(who: str, current: OrderStatus, target: OrderStatus) -> None:
    actor = ACTORS[who]
    customer_may = who == "customer" and target is OS.CANCELED and current in (OS.PENDING, OS.PROCESSING)
    in_table = (current, target) in TABLE
    call = lambda: policy.check_transition(actor, owner_id=1, current=current, target=target)  # noqa: E731
    if (who == "admin" and in_table) or customer_may:
        call()
        return
    if in_table or who == "owner":
        # A designer may make no move at all: FORBIDDEN before the lifecycle says anything.
        with pytest.raises(Forbidden):
            call()
        return
    with pytest.raises(InvalidTransition) as raised:
        call()
    allowed = set(raised.value.extensions["allowed"])
    if who == "admin":
        assert allowed == {t.value for c, t in TABLE if c is current}
    else:
        # Only what the customer itself may do: cancel, while it is early enough.
        assert allowed == ({"CANCELED"} if current in (OS.PENDING, OS.PROCESSING) else set())


def test_anonymous_transitions_and_the_system() -> None:
    with pytest.raises(Unauthenticated):
        policy.check_transition(ANON, owner_id=1, current=OS.PENDING, target=OS.CANCELED)
    policy.check_transition(SYSTEM, owner_id=1, current=OS.PENDING, target=OS.CANCELED)


def test_user_status_changes() -> None:
    policy.check_set_user_status(ADMIN, user_id=1, status=UserStatus.SUSPENDED)
    policy.check_set_user_status(ADMIN, user_id=4, status=UserStatus.ACTIVE)
    with pytest.raises(BadUserInput):
        policy.check_set_user_status(ADMIN, user_id=4, status=UserStatus.SUSPENDED)
    for actor, error in ((CUSTOMER, Forbidden), (DESIGNER, Forbidden), (ANON, Unauthenticated)):
        with pytest.raises(error):
            policy.check_set_user_status(actor, user_id=1, status=UserStatus.ACTIVE)


def test_catalog_managers() -> None:
    for actor in (DESIGNER, ADMIN, SYSTEM):
        policy.require_catalog_manager(actor)
    with pytest.raises(Forbidden):
        policy.require_catalog_manager(CUSTOMER)
    with pytest.raises(Unauthenticated):
        policy.require_catalog_manager(ANON)
    with pytest.raises(Forbidden):
        policy.require_admin(DESIGNER)
    policy.require_admin(SYSTEM)


@pytest.mark.parametrize("who", list(ACTORS))
def test_pending_changes_visibility(who: str) -> None:
    assert policy.can_see_pending_changes(ACTORS[who], designer_id=OWN) is (who in ("owner", "admin"))


@pytest.mark.parametrize("status", list(ProductStatus))
def test_only_an_approved_product_s_edits_wait_for_review(status: ProductStatus) -> None:
    assert policy.edits_wait_for_review(status) is (status is ProductStatus.APPROVED)
