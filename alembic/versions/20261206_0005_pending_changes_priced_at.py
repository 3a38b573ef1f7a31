"""moderation and cart prices: a product's content changes awaiting review; when a cart line was priced

Revision ID: 0005_privacy
Revises: 0004
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0005_privacy"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An approved product's edits wait here for reviewProduct; the approved content stays live.
    op.add_column("products", sa.Column("pending_changes", postgresql.JSONB(), nullable=True))
    # When the line's remembered price was set: it lapses KAPDA_CART_PRICE_TTL_SECONDS later.
    op.add_column(
        "cart_lines",
        sa.Column("priced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.execute("UPDATE cart_lines SET priced_at = added_at")


def downgrade() -> None:
    op.drop_column("cart_lines", "priced_at")
    op.drop_column("products", "pending_changes")
