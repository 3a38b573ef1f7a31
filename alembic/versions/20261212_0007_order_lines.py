"""Part of an order: per-line cancel/return counts and refunded amounts, per-unit commission
reversal, refunds held within the capture by the database, the parcel's tracking

- order_items.canceled_quantity / returned_quantity / refunded_amount, with a CHECK that a line
  never closes more units than it has, nor refunds more than its total;
- commissions.reversed_amount: the part of a line's commission taken back (all of it once the
  row is REVERSED), so commissions move unit by unit;
- (a payment's refunds stay within its capture by 0005's ``ck_refunds_within_capture``, the one
  constraint for it: line refunds are refunds like any other);
- orders.tracking_carrier / tracking_number / tracking_url, set when the order ships.

Revision ID: 0007
Revises: 0006 (stock holds)
Create Date: 2026-12-12 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "order_items", sa.Column("canceled_quantity", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "order_items", sa.Column("returned_quantity", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "order_items", sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_order_items_closed_within_quantity"),
        "order_items",
        "canceled_quantity >= 0 AND returned_quantity >= 0 AND canceled_quantity + returned_quantity <= quantity",
    )
    op.create_check_constraint(
        op.f("ck_order_items_refund_within_line"), "order_items", "refunded_amount BETWEEN 0 AND line_total"
    )

    op.add_column(
        "commissions", sa.Column("reversed_amount", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.execute("UPDATE commissions SET reversed_amount = amount WHERE status = 'REVERSED'")
    op.create_check_constraint(
        op.f("ck_commissions_reversed_within_amount"),
        "commissions",
        "reversed_amount BETWEEN 0 AND amount AND (status <> 'REVERSED' OR reversed_amount = amount)",
    )

    op.add_column("orders", sa.Column("tracking_carrier", sa.String(80), nullable=True))
    op.add_column("orders", sa.Column("tracking_number", sa.String(64), nullable=True))
    op.add_column("orders", sa.Column("tracking_url", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_orders_tracking_whole"),
        "orders",
        "(tracking_carrier IS NULL) = (tracking_number IS NULL) "
        "AND (tracking_url IS NULL OR tracking_number IS NOT NULL)",
    )


def downgrade() -> None:
    op.drop_constraint("ck_orders_tracking_whole", "orders", type_="check")
    op.drop_column("orders", "tracking_url")
    op.drop_column("orders", "tracking_number")
    op.drop_column("orders", "tracking_carrier")
    op.drop_constraint("ck_commissions_reversed_within_amount", "commissions", type_="check")
    op.drop_column("commissions", "reversed_amount")
    op.drop_constraint("ck_order_items_refund_within_line", "order_items", type_="check")
    op.drop_constraint("ck_order_items_closed_within_quantity", "order_items", type_="check")
    op.drop_column("order_items", "refunded_amount")
    op.drop_column("order_items", "returned_quantity")
    op.drop_column("order_items", "canceled_quantity")
