"""Incremental snapshots: ``snapshot_basis`` records what each window snapshot was built from,
so the next day's snapshot can be derived from it (store/snapshot_basis.py).

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


def downgrade() -> None:
    op.drop_table("snapshot_basis")
