"""Tables of the learning store. Alembic revisions in ``store/migrations`` bring a store to this
schema (``stylehint db upgrade``); a change here needs a revision (docs/operations.md)."""
from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table, Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSON text on SQLite, JSONB on PostgreSQL (so jsonb_each_text can explode maps in the database).
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

def _counts(*names: str) -> list[Column]:
    return [Column(n, BigInteger, nullable=False, default=0) for n in names]


autofill_events = Table(
    "autofill_events", metadata,
    Column("event_id", String(128), primary_key=True),
    Column("host", String(253), nullable=False),
    Column("host_family", String(64), nullable=False),
    Column("schema_hash", String(256), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("event_day", Date, nullable=False),
    Column("received_at", DateTime, nullable=False, comment="first receipt"),
    Column("updated_at", DateTime, nullable=False, comment="last insert or merge; drives the late-events sensor"),
    Column("gen_style_id", String(128)),
    Column("feedback_status", String(16)),
    Column("edit_chars", BigInteger, comment="as sent"),
    Column("effective_edit_chars", BigInteger, comment="edit_chars, else added + deleted (SPEC 2)"),
    Column("edit_stats", Json),
    Column("duration_ms", BigInteger),
    Column("status", String(32), nullable=False),
    Column("suggested_map", Json),
    Column("final_map", Json),
    Column("validation_errors", Json),
    Column("job", Json),
    Column("segment_key", String(16), comment="derived (SPEC 2)"),
    Column("client_segment_key", Text, comment="segment_key as sent"),
    Column("policy", String(16)),
    Column("profile_used", Boolean),
    Column("profile_source", String(32)),
    Column("user_id", Text),
    Column("application_id", Text),
    Column("extra", Json, comment="unknown fields, kept"),
    Index("ix_autofill_events_day_form", "event_day", "host", "schema_hash"),
    Index("ix_autofill_events_updated_at", "updated_at"),
    Index("ix_autofill_events_day_updated_at", "event_day", "updated_at"),  # late events per day
)

autofill_events_quarantine = Table(
    "autofill_events_quarantine", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime, nullable=False),
    Column("source", Text),
    Column("line_no", Integer),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False, comment="bounded; see raw_bytes for the original size"),
    Column("raw_bytes", Integer, nullable=False),
    Index("ix_quarantine_received_at", "received_at"),
)

daily_event_partials = Table(
    "daily_event_partials", metadata,
    Column("event_day", Date, nullable=False),
    Column("host", String(253), nullable=False),
    Column("schema_hash", String(256), nullable=False),
    Column("host_family", String(64), nullable=False),
    Column("segment_key", String(16)),
    Column("gen_style_id", String(128)),
    *_counts("runs", "helpful", "unhelpful", "ok_runs", "edit_sum", "edit_count", "duration_sum", "duration_count"),
    Column("last_seen_at", DateTime, nullable=False),
    Index("ix_daily_event_partials_day", "event_day"),
)

# Whole maps with their run counts, not one row per selector: a form's runs repeat a few maps,
# so a window's maps are summed first and each distinct map is exploded once, when read.
daily_field_map_counts = Table(
    "daily_field_map_counts", metadata,
    Column("event_day", Date, nullable=False),
    Column("host", String(253), nullable=False),
    Column("schema_hash", String(256), nullable=False),
    Column("final_map", Json, nullable=False, comment="a final_map as sent (selector -> semantic)"),
    Column("n", BigInteger, nullable=False, comment="runs of the day and form that sent this map"),
    Index("ix_daily_field_map_counts_day", "event_day"),
)

def _impact_cell_columns() -> list[Column]:
    """Per day, the grain of the impact report: (family, segment, profile_used, profile_source)."""
    return [
        Column("event_day", Date, nullable=False),
        Column("host_family", String(64), nullable=False),
        Column("segment_key", String(16)),
        Column("profile_used", Boolean),
        Column("profile_source", String(32)),
    ]


daily_impact_partials = Table(
    "daily_impact_partials", metadata,
    *_impact_cell_columns(),
    *_counts("runs", "ok_runs", "edit_count", "edit_sum"),
    Column("edit_sq_sum", Float, nullable=False, default=0.0, comment="sum of squares, for the sd (double)"),
    Index("ix_daily_impact_partials_day", "event_day"),
)

daily_duration_buckets = Table(
    "daily_duration_buckets", metadata,
    *_impact_cell_columns(),
    Column("bucket", Integer, nullable=False, comment="index into domain.impact.DURATION_EDGES"),
    Column("n", BigInteger, nullable=False),
    Index("ix_daily_duration_buckets_day", "event_day"),
)

daily_partition_state = Table(
    "daily_partition_state", metadata,
    Column("event_day", Date, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("max_updated_at", DateTime, comment="newest event change folded into the partials"),
    Column("materialized_at", DateTime, nullable=False),
)


def _style_stats(name: str, group: tuple[str, ...], *keys: Column) -> Table:
    # (as_of, group key): a snapshot's level, or one group of it when a hint is assembled on read.
    return Table(
        name, metadata,
        Column("as_of", Date, nullable=False),
        *keys,
        Column("gen_style_id", String(128), nullable=False),
        *_counts("total_runs", "helpful", "unhelpful", "edit_sum", "edit_count"),
        Column("helpful_ratio", Float, nullable=False),
        Column("avg_edit_chars", Float),
        Index(f"ix_{name}_as_of_group", "as_of", *group),
    )


form_style_stats = _style_stats(
    "form_style_stats", ("host", "schema_hash"),
    Column("host", String(253), nullable=False),
    Column("schema_hash", String(256), nullable=False),
    Column("host_family", String(64), nullable=False),
)
segment_style_stats = _style_stats(
    "segment_style_stats", ("host_family", "segment_key"),
    Column("host_family", String(64), nullable=False),
    Column("segment_key", String(16), nullable=False),
)
family_style_stats = _style_stats("family_style_stats", ("host_family",), Column("host_family", String(64), nullable=False))


def _profile_columns() -> list[Column]:
    return [
        Column("host_family", String(64), nullable=False),
        Column("segment_key", String(16)),
        Column("runs", BigInteger, nullable=False, comment="runs in the lookback window"),
        Column("success_rate", Float, nullable=False, comment="share of runs with status ok (0-1)"),
        Column("avg_edit_chars", Float),
        Column("avg_duration_ms", BigInteger),
        Column("last_seen_at", DateTime, nullable=False),
        Column("canonical_map", Json, nullable=False, comment="selector -> its most frequent semantic"),
        Column("served", Boolean, nullable=False, comment="passed the quality guard"),
        Column("reject_reason", Text, comment="why the guard rejected it; null when served"),
    ]


form_profile_snapshots = Table(
    "form_profile_snapshots", metadata,
    Column("as_of", Date, primary_key=True),
    Column("host", String(253), primary_key=True),
    Column("schema_hash", String(256), primary_key=True),
    *_profile_columns(),
)

style_hints = Table(
    "style_hints", metadata,
    Column("as_of", Date, primary_key=True),
    Column("host", String(253), primary_key=True),
    Column("schema_hash", String(256), primary_key=True),
    Column("host_family", String(64), nullable=False),
    Column("segment_key", String(16)),
    Column("preferred_style_id", String(128)),
    Column("source", String(16), nullable=False, comment="level that chose the style: form, segment, family, none"),
)

# What a day's hints were chosen with: the full hint (style_stats, explanation, levels tried) is
# assembled from the snapshot's stats tables on read (store/hint_choice.py), not stored per profile.
style_hint_settings = Table(
    "style_hint_settings", metadata,
    Column("as_of", Date, primary_key=True),
    Column("ranking", String(16), nullable=False),
    Column("lookback_days", Integer, nullable=False),
    Column("min_form_runs", Integer, nullable=False),
    Column("min_segment_runs", Integer, nullable=False),
    Column("min_family_runs", Integer, nullable=False),
)

# What each window snapshot was built from, so the next day's can be derived from it
# (store/snapshot_basis.py): the window's partial versions, the settings, and its own base.
snapshot_basis = Table(
    "snapshot_basis", metadata,
    Column("as_of", Date, primary_key=True),
    Column("asset", String(64), primary_key=True),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),
    Column("inputs", String(64), nullable=False, comment="digest of the partial versions (or snapshots) read"),
    Column("settings", String(64), nullable=False, comment="digest of the settings the rows depend on"),
    Column("base_as_of", Date, comment="the snapshot these rows were derived from; null when built cold"),
    Column("built_at", DateTime, nullable=False),
)

# Impact of the profiles as of a day: with vs without, per dimension, group and metric.
learning_impact = Table(
    "learning_impact", metadata,
    Column("as_of", Date, nullable=False),
    Column("dimension", String(32), nullable=False, comment="overall, profile_source, host_family, segment"),
    Column("group_key", String(64), nullable=False, comment="the group within the dimension; (null) for null"),
    Column("metric", String(32), nullable=False),
    *[Column(f"{side}_{c}", BigInteger if c == "n" else Float, nullable=c != "n")
      for side in ("with", "without") for c in ("n", "value", "low", "high")],
    Column("diff", Float, comment="with - without"),
    Column("diff_low", Float),
    Column("diff_high", Float),
    Column("sufficient", Boolean, nullable=False),
    Column("verdict", String(16), nullable=False, comment="better, worse, inconclusive, insufficient"),
    Index("ix_learning_impact_as_of", "as_of"),
)

# The served table: the newest published snapshot, one row per form.
form_profiles = Table(
    "form_profiles", metadata,
    Column("host", String(253), primary_key=True),
    Column("schema_hash", String(256), primary_key=True),
    Column("as_of", Date, nullable=False),
    *_profile_columns(),
    Column("preferred_style_id", String(128)),
    Column("source", String(16)),
    Column("published_at", DateTime, nullable=False, comment="when this snapshot was published"),
)

publish_state = Table(
    "publish_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("as_of", Date, comment="null until the first publish"),
    Column("published_at", DateTime),
    Column("profiles", BigInteger),
    Column("run_id", String(64)),
)

# Durable Prometheus counters: one row per series, incremented in the same transaction as the work.
metric_counters = Table(
    "metric_counters", metadata,
    Column("name", String(128), primary_key=True),
    Column("labels", String(1024), primary_key=True, comment="canonical JSON of the label pairs"),
    Column("value", Float, nullable=False),
)

# Aggregation runs already counted in applylens_autofill_agg_runs_total: a run-status sensor that
# sees a run again (a retried tick, a reset cursor) finds its id here and adds nothing.
metric_counted_runs = Table(
    "metric_counted_runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("status", String(8), nullable=False),
    Column("counted_at", DateTime, nullable=False),
)

# Alerts for failed checks and runs, written before they are posted: an Alertmanager that is
# down gets them on a later tick. One row per failure (dedupe_key), kept as the alert history.
alert_outbox = Table(
    "alert_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(256), nullable=False, unique=True, comment="check:<run>:<check>:<record> or run:<run>"),
    Column("severity", String(16), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("generator_url", Text),
    Column("starts_at", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("ix_alert_outbox_pending", "sent_at", "id"),
)

# Written by ``create_all`` before Alembic: its presence without ``alembic_version`` marks such a
# store, which is stamped with the baseline revision (store.migrate). New stores leave it empty.
schema_info = Table(
    "stylehint_schema", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("upgraded_at", DateTime, nullable=False),
)
