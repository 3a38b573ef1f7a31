"""The tables. Money is integer paise; the database itself refuses impossible states.

Enumerations are stored as text guarded by CHECK constraints rather than
PostgreSQL ENUM types, so adding a value is a one-line migration.

Longer than ~400 lines for a stated reason: it is every table, with the constraints that make the
database refuse impossible states, in one place that Alembic and the tests read.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from kapda_gql.domain.enums import (
    CheckoutStatus,
    CommissionStatus,
    OrderStatus,
    PaymentStatus,
    ProductStatus,
    RefundStatus,
    Role,
    UserStatus,
    WebhookStatus,
)
from kapda_gql.domain.ledger import StockReason
from kapda_gql.domain.ledger import check_sql as ledger_check_sql

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}  # noqa: RUF012


def _one_of(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        _one_of("role", Role),
        _one_of("status", UserStatus),
        CheckConstraint("length(email) BETWEEN 3 AND 254", name="email_length"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER.value, server_default="CUSTOMER")
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value, server_default="ACTIVE")
    created_at: Mapped[datetime] = _now()


class Designer(Base):
    __tablename__ = "designers"
    __table_args__ = (
        CheckConstraint("commission_rate_bps BETWEEN 0 AND 10000", name="commission_rate_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The designer's share of each line sold, in basis points (2000 = 20 %).
    commission_rate_bps: Mapped[int] = mapped_column(Integer, default=2000, server_default="2000")
    created_at: Mapped[datetime] = _now()


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        _one_of("status", ProductStatus),
        CheckConstraint("price >= 0", name="price_non_negative"),
        Index("ix_products_search", "search_vector", postgresql_using="gin"),
        Index("ix_products_status_created", "status", "created_at", "id"),
        Index("ix_products_designer", "designer_id"),
        Index("ix_products_category_lower", func.lower(text("category"))),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    designer_id: Mapped[int] = mapped_column(ForeignKey("designers.id", ondelete="RESTRICT"))
    slug: Mapped[str] = mapped_column(String(220), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(80))
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="INR", server_default="INR")
    images: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.DRAFT.value, server_default="DRAFT")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An approved product's content edits awaiting review (catalog.manage); the live content stays.
    # Deferred: only its designer and admins ever read it, never the catalog's pages.
    pending_changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB, deferred=True)
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(category, '')), 'B') || "
            "setweight(to_tsvector('english', coalesce(description, '')), 'C')",
            persisted=True,
        ),
        deferred=True,  # only ever read by PostgreSQL itself (search and rank), never by us
    )
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class StockHold(Base):
    """Units of a variant an open checkout session holds until ``expires_at`` (domain/stock.py).

    A hold past ``expires_at`` holds nothing, whether or not the sweep has deleted it yet: readers
    count only the unexpired ones, so a lapsed hold gives its units back at once, for everyone.
    """

    __tablename__ = "stock_holds"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_stock_holds_variant_expires", "variant_id", "expires_at", postgresql_include=["quantity"]),
        Index("ix_stock_holds_expires", "expires_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkout_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price IS NULL OR price >= 0", name="price_non_negative"),
        Index("ix_variants_product", "product_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[str | None] = mapped_column(String(32))
    color: Mapped[str | None] = mapped_column(String(40))
    price: Mapped[int | None] = mapped_column(BigInteger)
    # Units on hand (not yet sold), held ones included: what a customer can buy is ``sellable``.
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    # Units held by open, unexpired checkouts, read with the row (domain/stock.py HELD_SQL).
    held: Mapped[int] = column_property(
        select(func.coalesce(func.sum(StockHold.quantity), 0))
        .where(StockHold.variant_id == id, StockHold.expires_at > func.now())
        .correlate_except(StockHold)
        .scalar_subquery()
    )

    @property
    def sellable(self) -> int:
        """Units a customer can buy now: on hand less what open checkouts hold."""
        return max(self.stock - self.held, 0)


class Cart(Base):
    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    updated_at: Mapped[datetime] = _now()


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
    )

    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # The price remembered when the line's units were put in (pricing.reprices_line): the
    # price-protection rule compares against it until it lapses (pricing.remembered_price).
    unit_price: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = _now()
    # When unit_price was remembered (a raised quantity prices the line afresh).
    priced_at: Mapped[datetime] = _now()


class CheckoutSession(Base):
    __tablename__ = "checkout_sessions"
    __table_args__ = (
        _one_of("status", CheckoutStatus),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_checkout_sessions_user", "user_id", "created_at"),
        # At most one open session per customer: a new startCheckout replaces the open one.
        Index(
            "uq_checkout_sessions_open_user", "user_id", unique=True, postgresql_where=text("status = 'OPEN'")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    razorpay_order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="INR", server_default="INR")
    # The frozen quote: [{variant_id, product_id, quantity, unit_price, ...}], so the order
    # is made from exactly what the customer was charged for.
    lines: Mapped[list[Any]] = mapped_column(JSONB)
    price_adjustments: Mapped[list[Any]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default=CheckoutStatus.OPEN.value, server_default="OPEN")
    failure_code: Mapped[str | None] = mapped_column(String(40))
    # How it failed, kept on the row for every later attempt: {"code", "lines"?} (checkout.quote).
    failure_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    # When a process last claimed it to ask Razorpay about its order (checkout/reconcile.py).
    reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        _one_of("status", OrderStatus),
        _one_of("payment_status", PaymentStatus),
        CheckConstraint("subtotal >= 0 AND total >= 0", name="totals_non_negative"),
        CheckConstraint(
            "(tracking_carrier IS NULL) = (tracking_number IS NULL) "
            "AND (tracking_url IS NULL OR tracking_number IS NOT NULL)",
            name="tracking_whole",
        ),
        Index("ix_orders_user_created", "user_id", "created_at", "id"),
        Index("ix_orders_status_created", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    checkout_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkout_sessions.id", ondelete="RESTRICT"), unique=True
    )
    status: Mapped[str] = mapped_column(
        String(16), default=OrderStatus.PENDING.value, server_default="PENDING"
    )
    payment_status: Mapped[str] = mapped_column(
        String(24), default=PaymentStatus.CAPTURED.value, server_default="CAPTURED"
    )
    subtotal: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="INR", server_default="INR")
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    price_adjustments: Mapped[list[Any]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    processing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the last of its refunds was confirmed at Razorpay (none yet: NULL, whatever the status).
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The parcel's tracking, given when the order ships.
    tracking_carrier: Mapped[str | None] = mapped_column(String(80))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(Text)


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0 AND line_total >= 0", name="money_non_negative"),
        CheckConstraint(
            "canceled_quantity >= 0 AND returned_quantity >= 0 "
            "AND canceled_quantity + returned_quantity <= quantity",
            name="closed_within_quantity",
        ),
        CheckConstraint("refunded_amount BETWEEN 0 AND line_total", name="refund_within_line"),
        Index("ix_order_items_order", "order_id"),
        Index("ix_order_items_designer", "designer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    designer_id: Mapped[int] = mapped_column(ForeignKey("designers.id", ondelete="RESTRICT"))
    product_title: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    size: Mapped[str | None] = mapped_column(String(32))
    color: Mapped[str | None] = mapped_column(String(40))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int] = mapped_column(BigInteger)
    # Units cancelled before shipment and returned after delivery; what of the line was refunded.
    canceled_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class OrderStatusChange(Base):
    __tablename__ = "order_status_history"
    __table_args__ = (Index("ix_order_status_history_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _now()


class Commission(Base):
    __tablename__ = "commissions"
    __table_args__ = (
        _one_of("status", CommissionStatus),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint(
            "reversed_amount BETWEEN 0 AND amount AND (status <> 'REVERSED' OR reversed_amount = amount)",
            name="reversed_within_amount",
        ),
        Index("ix_commissions_designer_status", "designer_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id", ondelete="CASCADE"), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    designer_id: Mapped[int] = mapped_column(ForeignKey("designers.id", ondelete="RESTRICT"))
    rate_bps: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(
        String(16), default=CommissionStatus.PENDING.value, server_default="PENDING"
    )
    # The part taken back as units were cancelled or returned; all of it once the row is REVERSED.
    reversed_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount >= 0 AND refunded_amount >= 0", name="money_non_negative"),
        CheckConstraint("refunded_amount <= amount", name="refund_within_amount"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # One Razorpay payment can never be recorded twice, so it can never make two orders.
    razorpay_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    razorpay_order_id: Mapped[str] = mapped_column(String(64), index=True)
    checkout_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkout_sessions.id", ondelete="RESTRICT"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Refund(Base):
    """The refund outbox: written with the change that calls for it, carried out after commit."""

    __tablename__ = "refunds"
    __table_args__ = (
        _one_of("status", RefundStatus),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(
        String(16), default=RefundStatus.PENDING.value, server_default="PENDING"
    )
    razorpay_refund_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = _now()
    created_at: Mapped[datetime] = _now()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # {"result": {...}} or {"error": {...}} once finished; NULL while in flight.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    # The database backend that claimed the key (pid and start): when it is gone, so is the
    # request that held the key, and a retry takes the key over at once (core/idempotency.py).
    holder_pid: Mapped[int | None] = mapped_column(Integer)
    holder_started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (_one_of("status", WebhookStatus), Index("ix_webhook_events_status", "status"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(
        String(16), default=WebhookStatus.RECEIVED.value, server_default="RECEIVED"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = _now()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at", "at", "id"),
        Index("ix_audit_entries_target", "target_type", "target_id"),
        Index("ix_audit_entries_action", "action"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    at: Mapped[datetime] = _now()


class RateLimitBucket(Base):
    """Fixed-window counters shared by every worker and replica."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class StockMovement(Base):
    """The stock ledger, append-only (a trigger refuses UPDATE and DELETE): kapda_gql.domain.ledger."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        _one_of("reason", StockReason),
        CheckConstraint(ledger_check_sql(), name="delta_fits_reason"),
        CheckConstraint("stock_after >= 0", name="stock_after_non_negative"),
        Index("ix_stock_movements_variant", "variant_id", "id"),
        Index("ix_stock_movements_order", "order_id"),
        Index("ix_stock_movements_session", "checkout_session_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(16))
    # Change of on-hand units (stock + held), and of held units: see kapda_gql.domain.ledger.
    delta: Mapped[int] = mapped_column(Integer)
    held_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    stock_after: Mapped[int] = mapped_column(Integer)  # on hand after this movement
    # Plain references, no foreign keys: the ledger outlives purged sessions and erased users, and a
    # foreign key's ON DELETE SET NULL would be an UPDATE, which the ledger refuses.
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    checkout_session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _now()
