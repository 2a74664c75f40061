"""Incremental snapshots: ``snapshot_basis`` records what each window snapshot was built from,
and the partials get a per-form index, so the next day's snapshot recomputes only the forms
its entering and leaving days touch.

Revision ID: 0005_snapshot_basis
Revises: 0004_column_comments
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_snapshot_basis"
down_revision = "0004_column_comments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_basis",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("asset", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("inputs", sa.String(length=64), nullable=False,
                  comment="digest of the partial versions (or snapshots) read"),
        sa.Column("settings", sa.String(length=64), nullable=False,
                  comment="digest of the settings the rows depend on"),
        sa.Column("base_as_of", sa.Date(), nullable=True,
                  comment="the snapshot these rows were derived from; null when built cold"),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "asset"),
    )
    op.create_index("ix_daily_event_partials_form", "daily_event_partials", ["host", "schema_hash"])
    op.create_index("ix_daily_field_map_counts_form", "daily_field_map_counts", ["host", "schema_hash"])


def downgrade() -> None:
    op.drop_index("ix_daily_field_map_counts_form", table_name="daily_field_map_counts")
    op.drop_index("ix_daily_event_partials_form", table_name="daily_event_partials")
    op.drop_table("snapshot_basis")
