"""Lean snapshots: a hint row keeps its level and style, the full hint is assembled on read
from the snapshot's stats tables and ``style_hint_settings`` (what the day was chosen with).

Upgrade fills ``style_hint_settings`` for every stored day from that day's hint JSON (ranking,
lookback, the levels' ``min_runs``; a level no hint of the day tried gets the SPEC default),
then drops the JSON copies. Downgrade restores the columns with ``{}``: re-materialize the days
whose full hint you need from the older release.

Revision ID: 0003_lean_hints
Revises: 0002_events_day_updated_at
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0003_lean_hints"
down_revision = "0002_events_day_updated_at"
branch_labels = None
depends_on = None

SPEC_MIN_RUNS = {"form": 5, "segment": 5, "family": 10}
STATS_INDEXES = {   # table: (old index, new index, new index columns)
    "form_style_stats": ("ix_form_style_stats_as_of", "ix_form_style_stats_as_of_group",
                         ["as_of", "host", "schema_hash"]),
    "segment_style_stats": ("ix_segment_style_stats_as_of", "ix_segment_style_stats_as_of_group",
                            ["as_of", "host_family", "segment_key"]),
    "family_style_stats": ("ix_family_style_stats_as_of", "ix_family_style_stats_as_of_group",
                           ["as_of", "host_family"]),
}
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql")


def _settings_of_stored_days(conn) -> list[dict]:
    """One row per stored as-of day, read from its hints (a day's hints share their settings)."""
    hints = sa.table("style_hints", sa.column("as_of", sa.Date), sa.column("hint", JSON))
    rows, found = {}, {}
    for as_of, hint in conn.execute(sa.select(hints.c.as_of, hints.c.hint).order_by(hints.c.as_of)):
        row = rows.setdefault(as_of, {"as_of": as_of, "ranking": "ratio", "lookback_days": 30})
        levels = found.setdefault(as_of, {})
        if len(levels) == 3:
            continue
        row["ranking"] = hint.get("ranking", row["ranking"])
        row["lookback_days"] = hint.get("lookback_days", row["lookback_days"])
        for tried in hint.get("levels_tried", ()):
            levels.setdefault(tried["level"], tried["min_runs"])
    for as_of, row in rows.items():
        for level, default in SPEC_MIN_RUNS.items():
            row[f"min_{level}_runs"] = found[as_of].get(level, default)
    return list(rows.values())


def upgrade() -> None:
    settings = op.create_table(
        "style_hint_settings",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("ranking", sa.String(length=16), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("min_form_runs", sa.Integer(), nullable=False),
        sa.Column("min_segment_runs", sa.Integer(), nullable=False),
        sa.Column("min_family_runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("as_of"),
    )
    days = _settings_of_stored_days(op.get_bind())
    if days:
        op.bulk_insert(settings, days)
    with op.batch_alter_table("style_hints") as batch:
        batch.drop_column("hint")
    with op.batch_alter_table("form_profiles") as batch:
        batch.drop_column("style_hint")
    for table, (old, new, columns) in STATS_INDEXES.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_index(old)
            batch.create_index(new, columns)


def downgrade() -> None:
    for table, (old, new, _columns) in STATS_INDEXES.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_index(new)
            batch.create_index(old, ["as_of"])
    with op.batch_alter_table("form_profiles") as batch:
        batch.add_column(sa.Column("style_hint", JSON, nullable=True))
    with op.batch_alter_table("style_hints") as batch:
        batch.add_column(sa.Column("hint", JSON, nullable=False, server_default=sa.text("'{}'")))
    op.drop_table("style_hint_settings")
