"""stock_movements, the append-only stock ledger; refunds never exceed their payment's capture

Revision ID: 0005
Revises: 0005_privacy
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0005"
down_revision: str | None = "0005_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of kapda_gql.domain.ledger's rules as they were at this revision.
REASONS = ("INITIAL", "SET", "HOLD", "RELEASE", "SALE", "CANCEL_RESTOCK", "RETURN_RESTOCK")
DELTA_FITS_REASON = (
    "(CASE reason WHEN 'INITIAL' THEN (delta = 0 OR delta > 0) AND (held_delta = 0)"
    " WHEN 'SET' THEN (true) AND (held_delta = 0)"
    " WHEN 'HOLD' THEN (delta = 0) AND (held_delta > 0)"
    " WHEN 'RELEASE' THEN (delta = 0) AND (held_delta < 0)"
    " WHEN 'SALE' THEN (delta < 0) AND (held_delta < 0 OR held_delta = 0)"
    " WHEN 'CANCEL_RESTOCK' THEN (delta > 0) AND (held_delta = 0)"
    " WHEN 'RETURN_RESTOCK' THEN (delta > 0) AND (held_delta = 0) ELSE false END)"
    " AND (reason <> 'SALE' OR held_delta IN (0, delta))"
)


def upgrade() -> None:
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("held_delta", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("checkout_session_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "reason IN (" + ", ".join(f"'{r}'" for r in REASONS) + ")",
            name=op.f("ck_stock_movements_reason_valid"),
        ),
        sa.CheckConstraint(DELTA_FITS_REASON, name=op.f("ck_stock_movements_delta_fits_reason")),
        sa.CheckConstraint("stock_after >= 0", name=op.f("ck_stock_movements_stock_after_non_negative")),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_stock_movements_variant_id_variants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index("ix_stock_movements_variant", "stock_movements", ["variant_id", "id"])
    op.create_index("ix_stock_movements_order", "stock_movements", ["order_id"])
    op.create_index("ix_stock_movements_session", "stock_movements", ["checkout_session_id"])
    # Append-only: a movement is history. TRUNCATE (a test suite's reset, a restore) is not a row
    # change and stays possible for the table's owner.
    op.execute(
        """
        CREATE FUNCTION kapda_stock_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'stock_movements is append-only (% refused)', TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements"
        " FOR EACH ROW EXECUTE FUNCTION kapda_stock_movements_append_only()"
    )
    # The variants there before the ledger: their stock as it stands is their opening balance.
    op.execute(
        "INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, note)"
        " SELECT id, 'INITIAL', stock, 0, stock, 'opening balance when the ledger began'"
        " FROM variants ORDER BY id"
    )
    # No payment's refunds (pending or processed) exceed what it captured. Refunds of one payment
    # are written under that payment's row lock (payments.refunds), so the sum seen here is whole;
    # deferred to COMMIT so a transaction that writes several refunds is judged on the total.
    op.execute(
        """
        CREATE FUNCTION kapda_refunds_within_capture() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            captured bigint;
            refunded bigint;
        BEGIN
            SELECT p.amount INTO captured FROM payments p WHERE p.id = NEW.payment_id;
            SELECT coalesce(sum(r.amount), 0) INTO refunded FROM refunds r
                WHERE r.payment_id = NEW.payment_id AND r.status <> 'FAILED';
            IF refunded > captured THEN
                RAISE EXCEPTION 'refunds of payment % (%) exceed its capture (%)',
                    NEW.payment_id, refunded, captured
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_refunds_within_capture';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER ck_refunds_within_capture AFTER INSERT OR UPDATE OF amount, status, payment_id"
        " ON refunds DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kapda_refunds_within_capture()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ck_refunds_within_capture ON refunds")
    op.execute("DROP FUNCTION kapda_refunds_within_capture()")
    op.drop_table("stock_movements")
    op.execute("DROP FUNCTION kapda_stock_movements_append_only()")
