"""catalog_version: one counter that every catalog change moves, in the change's own transaction

The shared response cache (kapda_gql/graphql/transport/response_cache.py) keeps answers only for
the version they were computed at. Deferred constraint triggers on products, variants and
designers bump it at COMMIT, once per transaction, so no code path that writes the catalog can
forget it and the counter's row lock is always the last one a transaction takes (no lock-order
deadlocks with the rows it guards). Stock is left out on purpose: sales, holds and refunds move
it constantly and may show late by KAPDA_CATALOG_CACHE_SECONDS; an explicit setStock bumps the
counter itself (kapda_bump_catalog()).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns of a variant a catalog answer shows, except stock (see above).
_VARIANT_CONTENT = "product_id, sku, size, color, price, deleted_at"


def upgrade() -> None:
    op.execute(
        "CREATE TABLE catalog_version ( id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)"
    )
    op.execute("INSERT INTO catalog_version (id, version) VALUES (1, 1)")
    # Once per transaction: a transaction-local setting remembers that this one has bumped.
    op.execute(
        """
        CREATE FUNCTION kapda_bump_catalog() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('kapda.catalog_bumped', true) IS DISTINCT FROM txid_current()::text THEN
                INSERT INTO catalog_version (id, version) VALUES (1, 1)
                ON CONFLICT (id) DO UPDATE SET version = catalog_version.version + 1;
                PERFORM set_config('kapda.catalog_bumped', txid_current()::text, true);
            END IF;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION kapda_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM kapda_bump_catalog();
            RETURN NULL;
        END $$
        """
    )
    for table, update in (
        ("products", "UPDATE"),
        ("designers", "UPDATE"),
        ("variants", f"UPDATE OF {_VARIANT_CONTENT}"),
    ):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER catalog_changed AFTER INSERT OR {update} OR DELETE ON {table}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kapda_catalog_changed()"
        )
        # TRUNCATE cannot be a constraint trigger; it is rare enough to bump at once.
        op.execute(
            f"CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION kapda_catalog_changed()"
        )


def downgrade() -> None:
    for table in ("products", "designers", "variants"):
        op.execute(f"DROP TRIGGER IF EXISTS catalog_changed ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS catalog_truncated ON {table}")
    op.execute("DROP FUNCTION IF EXISTS kapda_catalog_changed()")
    op.execute("DROP FUNCTION IF EXISTS kapda_bump_catalog()")
    op.execute("DROP TABLE IF EXISTS catalog_version")
