"""Field-map counts keep whole maps: one row per (day, form, ``final_map``) with its runs,
instead of one row per (day, form, selector, semantic); the maps are exploded when a window
is read (store/profile_figures.py), once per distinct map of the window rather than per day.

Upgrade is exact without touching the events: each stored (selector, semantic, n) becomes the
one-pair map ``{selector: semantic}`` with count n, so every window's sums are unchanged (a day
materialized again stores its maps whole, in fewer rows). Downgrade explodes the maps back.

Revision ID: 0006_field_maps_whole
Revises: 0005_snapshot_basis
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006_field_maps_whole"
down_revision = "0005_snapshot_basis"
branch_labels = None
depends_on = None

TABLE, INDEX = "daily_field_map_counts", "ix_daily_field_map_counts_day"
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql")


def _key_columns() -> list[sa.Column]:
    return [sa.Column("event_day", sa.Date(), nullable=False),
            sa.Column("host", sa.String(length=253), nullable=False),
            sa.Column("schema_hash", sa.String(length=256), nullable=False)]


def _replace(new_columns: list[sa.Column], rows_from_old) -> None:
    """Fill a table of the keys and ``new_columns`` with ``rows_from_old(old)`` (a select in that
    column order, over a view of the old table), then put it in the old one's place."""
    new = op.create_table(f"{TABLE}_next", *_key_columns(), *new_columns)
    old = sa.table(TABLE, *(sa.column(c.name, c.type) for c in _key_columns()), sa.column("selector", sa.Text),
                   sa.column("semantic", sa.Text), sa.column("final_map", JSON), sa.column("n", sa.BigInteger))
    op.execute(sa.insert(new).from_select([c.name for c in new.columns], rows_from_old(old)))
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index(INDEX)
    op.drop_table(TABLE)
    op.rename_table(new.name, TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.create_index(INDEX, ["event_day"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ANALYZE {TABLE}")   # a fixed name; the window reads are planned from these figures


def upgrade() -> None:
    pair = sa.func.jsonb_build_object if op.get_bind().dialect.name == "postgresql" else sa.func.json_object

    def one_pair_maps(old):
        return sa.select(old.c.event_day, old.c.host, old.c.schema_hash, pair(old.c.selector, old.c.semantic), old.c.n)

    _replace([sa.Column("final_map", JSON, nullable=False, comment="a final_map as sent (selector -> semantic)"),
              sa.Column("n", sa.BigInteger(), nullable=False, comment="runs of the day and form that sent this map")],
             one_pair_maps)


def downgrade() -> None:
    each = sa.func.jsonb_each_text if op.get_bind().dialect.name == "postgresql" else sa.func.json_each

    def exploded(old):
        pairs = each(old.c.final_map).table_valued(sa.column("key", sa.Text), sa.column("value", sa.Text))
        keys = [old.c.event_day, old.c.host, old.c.schema_hash, pairs.c.key, pairs.c.value]
        return (sa.select(*keys, sa.func.sum(old.c.n)).select_from(old.join(pairs, sa.true()))
                .where(pairs.c.value.is_not(None), pairs.c.value != "").group_by(*keys))

    _replace([sa.Column("selector", sa.Text(), nullable=False), sa.Column("semantic", sa.Text(), nullable=False),
              sa.Column("n", sa.BigInteger(), nullable=False)], exploded)
