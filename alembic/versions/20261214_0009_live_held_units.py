"""live_held_units(variant): the units a variant's unexpired holds hold, read with a fresh snapshot

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-14 09:00:00.000000

A statement that waited for a variant's row lock reads other tables from the snapshot it took
before the wait, so it misses the holds its lock's previous holder committed. A VOLATILE function
takes a new snapshot for each query it runs: called on a row the statement has just locked, it
counts every hold committed before the lock was granted. This lets startCheckout lock, count and
hold in one statement (kapda_gql/checkout/store.py ``START``). The body is the same sum as
kapda_gql/domain/stock.py ``HELD_SQL``, and a test compares the two.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION live_held_units(variant bigint) RETURNS bigint
        LANGUAGE sql VOLATILE PARALLEL UNSAFE
        AS $$
            SELECT coalesce(sum(h.quantity), 0)::bigint FROM stock_holds h
            WHERE h.variant_id = variant AND h.expires_at > now()
        $$
        """
    )
    op.execute(
        "COMMENT ON FUNCTION live_held_units(bigint) IS "
        "'Units held by unexpired holds on a variant, counted with a fresh snapshot (VOLATILE on purpose: "
        "call it on a row the statement has locked)'"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION live_held_units(bigint)")
