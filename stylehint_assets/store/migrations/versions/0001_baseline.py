"""The learning store as ``create_all`` made it before Alembic: a store with ``stylehint_schema``
and no ``alembic_version`` is stamped with this revision instead of running it.

Revision ID: 0001_baseline
Revises: 
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
revision = '0001_baseline'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dedupe_key', sa.String(length=256), nullable=False, comment='check:<run>:<check>:<record> or run:<run>'),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('labels', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('annotations', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('generator_url', sa.Text(), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_alert_outbox_pending', ['sent_at', 'id'], unique=False)

    op.create_table('autofill_events',
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('event_day', sa.Date(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False, comment='first receipt'),
    sa.Column('updated_at', sa.DateTime(), nullable=False, comment='last insert or merge; drives the late-events sensor'),
    sa.Column('gen_style_id', sa.String(length=128), nullable=True),
    sa.Column('feedback_status', sa.String(length=16), nullable=True),
    sa.Column('edit_chars', sa.BigInteger(), nullable=True, comment='as sent'),
    sa.Column('effective_edit_chars', sa.BigInteger(), nullable=True, comment='edit_chars, else added + deleted (SPEC 2)'),
    sa.Column('edit_stats', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('suggested_map', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('final_map', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('validation_errors', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('job', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('segment_key', sa.String(length=16), nullable=True, comment='derived (SPEC 2)'),
    sa.Column('client_segment_key', sa.Text(), nullable=True, comment='segment_key as sent'),
    sa.Column('policy', sa.String(length=16), nullable=True),
    sa.Column('profile_used', sa.Boolean(), nullable=True),
    sa.Column('profile_source', sa.String(length=32), nullable=True),
    sa.Column('user_id', sa.Text(), nullable=True),
    sa.Column('application_id', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True, comment='unknown fields, kept'),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('autofill_events', schema=None) as batch_op:
        batch_op.create_index('ix_autofill_events_day_form', ['event_day', 'host', 'schema_hash'], unique=False)
        batch_op.create_index('ix_autofill_events_updated_at', ['updated_at'], unique=False)

    op.create_table('autofill_events_quarantine',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False, comment='bounded; see raw_bytes for the original size'),
    sa.Column('raw_bytes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('autofill_events_quarantine', schema=None) as batch_op:
        batch_op.create_index('ix_quarantine_received_at', ['received_at'], unique=False)

    op.create_table('daily_duration_buckets',
    sa.Column('event_day', sa.Date(), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=True),
    sa.Column('profile_used', sa.Boolean(), nullable=True),
    sa.Column('profile_source', sa.String(length=32), nullable=True),
    sa.Column('bucket', sa.Integer(), nullable=False, comment='index into domain.impact.DURATION_EDGES'),
    sa.Column('n', sa.BigInteger(), nullable=False)
    )
    with op.batch_alter_table('daily_duration_buckets', schema=None) as batch_op:
        batch_op.create_index('ix_daily_duration_buckets_day', ['event_day'], unique=False)

    op.create_table('daily_event_partials',
    sa.Column('event_day', sa.Date(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=True),
    sa.Column('gen_style_id', sa.String(length=128), nullable=True),
    sa.Column('runs', sa.BigInteger(), nullable=False),
    sa.Column('helpful', sa.BigInteger(), nullable=False),
    sa.Column('unhelpful', sa.BigInteger(), nullable=False),
    sa.Column('ok_runs', sa.BigInteger(), nullable=False),
    sa.Column('edit_sum', sa.BigInteger(), nullable=False),
    sa.Column('edit_count', sa.BigInteger(), nullable=False),
    sa.Column('duration_sum', sa.BigInteger(), nullable=False),
    sa.Column('duration_count', sa.BigInteger(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False)
    )
    with op.batch_alter_table('daily_event_partials', schema=None) as batch_op:
        batch_op.create_index('ix_daily_event_partials_day', ['event_day'], unique=False)

    op.create_table('daily_field_map_counts',
    sa.Column('event_day', sa.Date(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('selector', sa.Text(), nullable=False),
    sa.Column('semantic', sa.Text(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False)
    )
    with op.batch_alter_table('daily_field_map_counts', schema=None) as batch_op:
        batch_op.create_index('ix_daily_field_map_counts_day', ['event_day'], unique=False)

    op.create_table('daily_impact_partials',
    sa.Column('event_day', sa.Date(), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=True),
    sa.Column('profile_used', sa.Boolean(), nullable=True),
    sa.Column('profile_source', sa.String(length=32), nullable=True),
    sa.Column('runs', sa.BigInteger(), nullable=False),
    sa.Column('ok_runs', sa.BigInteger(), nullable=False),
    sa.Column('edit_count', sa.BigInteger(), nullable=False),
    sa.Column('edit_sum', sa.BigInteger(), nullable=False),
    sa.Column('edit_sq_sum', sa.Float(), nullable=False, comment='sum of squares, for the sd (double)')
    )
    with op.batch_alter_table('daily_impact_partials', schema=None) as batch_op:
        batch_op.create_index('ix_daily_impact_partials_day', ['event_day'], unique=False)

    op.create_table('daily_partition_state',
    sa.Column('event_day', sa.Date(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('max_updated_at', sa.DateTime(), nullable=True, comment='newest event change folded into the partials'),
    sa.Column('materialized_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_day')
    )
    op.create_table('family_style_stats',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('gen_style_id', sa.String(length=128), nullable=False),
    sa.Column('total_runs', sa.BigInteger(), nullable=False),
    sa.Column('helpful', sa.BigInteger(), nullable=False),
    sa.Column('unhelpful', sa.BigInteger(), nullable=False),
    sa.Column('edit_sum', sa.BigInteger(), nullable=False),
    sa.Column('edit_count', sa.BigInteger(), nullable=False),
    sa.Column('helpful_ratio', sa.Float(), nullable=False),
    sa.Column('avg_edit_chars', sa.Float(), nullable=True)
    )
    with op.batch_alter_table('family_style_stats', schema=None) as batch_op:
        batch_op.create_index('ix_family_style_stats_as_of', ['as_of'], unique=False)

    op.create_table('form_profile_snapshots',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=True),
    sa.Column('runs', sa.BigInteger(), nullable=False),
    sa.Column('success_rate', sa.Float(), nullable=False),
    sa.Column('avg_edit_chars', sa.Float(), nullable=True),
    sa.Column('avg_duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('canonical_map', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('served', sa.Boolean(), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('as_of', 'host', 'schema_hash')
    )
    op.create_table('form_profiles',
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=True),
    sa.Column('runs', sa.BigInteger(), nullable=False),
    sa.Column('success_rate', sa.Float(), nullable=False),
    sa.Column('avg_edit_chars', sa.Float(), nullable=True),
    sa.Column('avg_duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('canonical_map', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('served', sa.Boolean(), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.Column('preferred_style_id', sa.String(length=128), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('style_hint', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('host', 'schema_hash')
    )
    op.create_table('form_style_stats',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('gen_style_id', sa.String(length=128), nullable=False),
    sa.Column('total_runs', sa.BigInteger(), nullable=False),
    sa.Column('helpful', sa.BigInteger(), nullable=False),
    sa.Column('unhelpful', sa.BigInteger(), nullable=False),
    sa.Column('edit_sum', sa.BigInteger(), nullable=False),
    sa.Column('edit_count', sa.BigInteger(), nullable=False),
    sa.Column('helpful_ratio', sa.Float(), nullable=False),
    sa.Column('avg_edit_chars', sa.Float(), nullable=True)
    )
    with op.batch_alter_table('form_style_stats', schema=None) as batch_op:
        batch_op.create_index('ix_form_style_stats_as_of', ['as_of'], unique=False)

    op.create_table('learning_impact',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('dimension', sa.String(length=32), nullable=False, comment='overall, profile_source, host_family, segment'),
    sa.Column('group_key', sa.String(length=64), nullable=False, comment='the group within the dimension; (null) for null'),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('with_n', sa.BigInteger(), nullable=False),
    sa.Column('with_value', sa.Float(), nullable=True),
    sa.Column('with_low', sa.Float(), nullable=True),
    sa.Column('with_high', sa.Float(), nullable=True),
    sa.Column('without_n', sa.BigInteger(), nullable=False),
    sa.Column('without_value', sa.Float(), nullable=True),
    sa.Column('without_low', sa.Float(), nullable=True),
    sa.Column('without_high', sa.Float(), nullable=True),
    sa.Column('diff', sa.Float(), nullable=True, comment='with - without'),
    sa.Column('diff_low', sa.Float(), nullable=True),
    sa.Column('diff_high', sa.Float(), nullable=True),
    sa.Column('sufficient', sa.Boolean(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False, comment='better, worse, inconclusive, insufficient')
    )
    with op.batch_alter_table('learning_impact', schema=None) as batch_op:
        batch_op.create_index('ix_learning_impact_as_of', ['as_of'], unique=False)

    op.create_table('metric_counted_runs',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('counted_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('run_id')
    )
    op.create_table('metric_counters',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('labels', sa.String(length=1024), nullable=False, comment='canonical JSON of the label pairs'),
    sa.Column('value', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'labels')
    )
    op.create_table('publish_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=True, comment='null until the first publish'),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('profiles', sa.BigInteger(), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('segment_style_stats',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=False),
    sa.Column('gen_style_id', sa.String(length=128), nullable=False),
    sa.Column('total_runs', sa.BigInteger(), nullable=False),
    sa.Column('helpful', sa.BigInteger(), nullable=False),
    sa.Column('unhelpful', sa.BigInteger(), nullable=False),
    sa.Column('edit_sum', sa.BigInteger(), nullable=False),
    sa.Column('edit_count', sa.BigInteger(), nullable=False),
    sa.Column('helpful_ratio', sa.Float(), nullable=False),
    sa.Column('avg_edit_chars', sa.Float(), nullable=True)
    )
    with op.batch_alter_table('segment_style_stats', schema=None) as batch_op:
        batch_op.create_index('ix_segment_style_stats_as_of', ['as_of'], unique=False)

    op.create_table('style_hints',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('schema_hash', sa.String(length=256), nullable=False),
    sa.Column('host_family', sa.String(length=64), nullable=False),
    sa.Column('segment_key', sa.String(length=16), nullable=True),
    sa.Column('preferred_style_id', sa.String(length=128), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('hint', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('as_of', 'host', 'schema_hash')
    )
    op.create_table('stylehint_schema',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('upgraded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('stylehint_schema')
    op.drop_table('style_hints')
    with op.batch_alter_table('segment_style_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_segment_style_stats_as_of')

    op.drop_table('segment_style_stats')
    op.drop_table('publish_state')
    op.drop_table('metric_counters')
    op.drop_table('metric_counted_runs')
    with op.batch_alter_table('learning_impact', schema=None) as batch_op:
        batch_op.drop_index('ix_learning_impact_as_of')

    op.drop_table('learning_impact')
    with op.batch_alter_table('form_style_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_form_style_stats_as_of')

    op.drop_table('form_style_stats')
    op.drop_table('form_profiles')
    op.drop_table('form_profile_snapshots')
    with op.batch_alter_table('family_style_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_family_style_stats_as_of')

    op.drop_table('family_style_stats')
    op.drop_table('daily_partition_state')
    with op.batch_alter_table('daily_impact_partials', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_impact_partials_day')

    op.drop_table('daily_impact_partials')
    with op.batch_alter_table('daily_field_map_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_field_map_counts_day')

    op.drop_table('daily_field_map_counts')
    with op.batch_alter_table('daily_event_partials', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_event_partials_day')

    op.drop_table('daily_event_partials')
    with op.batch_alter_table('daily_duration_buckets', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_duration_buckets_day')

    op.drop_table('daily_duration_buckets')
    with op.batch_alter_table('autofill_events_quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_received_at')

    op.drop_table('autofill_events_quarantine')
    with op.batch_alter_table('autofill_events', schema=None) as batch_op:
        batch_op.drop_index('ix_autofill_events_updated_at')
        batch_op.drop_index('ix_autofill_events_day_form')

    op.drop_table('autofill_events')
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_outbox_pending')

    op.drop_table('alert_outbox')
