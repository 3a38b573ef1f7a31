"""checkout_sessions.failure_detail: a failed session keeps its own failure

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "checkout_sessions",
        sa.Column("failure_detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    # Sessions that failed before this column: their detail was kept only in the audit log.
    op.execute(
        """
        UPDATE checkout_sessions s SET failure_detail = jsonb_strip_nulls(jsonb_build_object(
            'code', s.failure_code,
            'lines', (SELECT a.changes -> 'lines' FROM audit_entries a
                      WHERE a.action = 'checkout.failed' AND a.target_type = 'CheckoutSession'
                        AND a.target_id = s.id::text
                      ORDER BY a.id DESC LIMIT 1)))
        WHERE s.status = 'FAILED' AND s.failure_code IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("checkout_sessions", "failure_detail")
