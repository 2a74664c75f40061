"""Column comments on the snapshot and served tables: the Dagster catalog's column descriptions
and ``\\d+`` in psql say the same thing. PostgreSQL only (SQLite keeps no comments).

Revision ID: 0004_column_comments
Revises: 0003_lean_hints
"""
from alembic import op

revision = "0004_column_comments"
down_revision = "0003_lean_hints"
branch_labels = None
depends_on = None

PROFILE_COMMENTS = {
    "runs": "runs in the lookback window",
    "success_rate": "share of runs with status ok (0-1)",
    "canonical_map": "selector -> its most frequent semantic",
    "served": "passed the quality guard",
    "reject_reason": "why the guard rejected it; null when served",
}
COMMENTS = {
    "form_profile_snapshots": PROFILE_COMMENTS,
    "form_profiles": {**PROFILE_COMMENTS, "published_at": "when this snapshot was published"},
    "style_hints": {"source": "level that chose the style: form, segment, family, none"},
}


def _comment(table: str, column: str, comment: str | None) -> None:
    op.alter_column(table, column, comment=comment)   # COMMENT ON COLUMN on PostgreSQL


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COMMENTS.items():
        for column, comment in columns.items():
            _comment(table, column, comment)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COMMENTS.items():
        for column in columns:
            _comment(table, column, None)
