"""Index on autofill_events (event_day, updated_at): the late-events sensor and the backfill
guard ask, per day, for the newest change.

Revision ID: 0002_events_day_updated_at
Revises: 0001_baseline
"""
from alembic import op

revision = "0002_events_day_updated_at"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_autofill_events_day_updated_at", "autofill_events", ["event_day", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_autofill_events_day_updated_at", table_name="autofill_events")
