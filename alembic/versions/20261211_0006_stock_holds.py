"""stock_holds: units held by open checkout sessions; one open session per customer; idempotency
keys remember the backend that claimed them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_holds",
        sa.Column("session_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_holds_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_stock_holds_session_id_checkout_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_stock_holds_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "variant_id", name=op.f("pk_stock_holds")),
    )
    op.create_index(
        "ix_stock_holds_variant_expires",
        "stock_holds",
        ["variant_id", "expires_at"],
        postgresql_include=["quantity"],
    )
    op.create_index("ix_stock_holds_expires", "stock_holds", ["expires_at"])
    # Sessions opened before holds: keep only each customer's newest open one open.
    op.execute(
        """
        UPDATE checkout_sessions s SET status = 'FAILED', failure_code = 'CHECKOUT_EXPIRED',
               failure_detail = '{"code": "CHECKOUT_EXPIRED"}'::jsonb
        WHERE s.status = 'OPEN' AND EXISTS (
            SELECT 1 FROM checkout_sessions n
            WHERE n.user_id = s.user_id AND n.status = 'OPEN' AND (n.created_at, n.id) > (s.created_at, s.id))
        """
    )
    op.create_index(
        "uq_checkout_sessions_open_user",
        "checkout_sessions",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.add_column("checkout_sessions", sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("idempotency_keys", sa.Column("holder_pid", sa.Integer(), nullable=True))
    op.add_column("idempotency_keys", sa.Column("holder_started", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_keys", "holder_started")
    op.drop_column("idempotency_keys", "holder_pid")
    op.drop_column("checkout_sessions", "reconciled_at")
    op.drop_index("uq_checkout_sessions_open_user", table_name="checkout_sessions")
    op.drop_index("ix_stock_holds_expires", table_name="stock_holds")
    op.drop_index("ix_stock_holds_variant_expires", table_name="stock_holds")
    op.drop_table("stock_holds")
