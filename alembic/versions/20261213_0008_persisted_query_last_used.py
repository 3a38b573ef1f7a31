"""persisted queries: when each was last used, so `kapda-gql purge` can drop the forgotten ones

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-13 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing entries count as used now: none is purged before a full period has passed.
    op.add_column(
        "persisted_queries",
        sa.Column(
            "last_used_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
    )
    op.create_index("ix_persisted_queries_last_used_at", "persisted_queries", ["last_used_at"])


def downgrade() -> None:
    op.drop_index("ix_persisted_queries_last_used_at", table_name="persisted_queries")
    op.drop_column("persisted_queries", "last_used_at")
