"""Per event day: the stored events, and the additive partials the window assets add up."""

import dagster as dg

from resources import LearningStore
from ..store import aggregates, impact
from ..clock import utcnow
from ..groups import EVENTS_GROUP
from . import catalog
from .common import DAILY_BACKFILL, OWNERS, RETRY, partition_days, preview
from ..partitions import daily_partitions


@dg.asset(
    **catalog.header("autofill_events"),
    group_name=EVENTS_GROUP,
    kinds={"sql", "python"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    backfill_policy=DAILY_BACKFILL,
    retry_policy=RETRY,
)
def autofill_events(context: dg.AssetExecutionContext, store: LearningStore) -> dg.MaterializeResult:
    """Learning events of the day, as ingested (validated, normalised, deduplicated by event_id).

    Ingest writes them (`stylehint ingest`); materializing a day records its counts, forms and
    late arrivals (events received after their day) so the UI shows what each partition holds.
    """
    start, end = partition_days(context)
    with store.connect() as conn:
        days = aggregates.day_summary(conn, start, end)
    return dg.MaterializeResult(metadata={
        **catalog.row_count_metadata(context, store),
        "events": int(days["events"].sum()),
        "days_with_events": len(days),
        "forms": int(days["forms"].max()) if not days.empty else 0,
        "late_arrivals": int(days["late_arrivals"].sum()),
        "with_feedback": int(days["with_feedback"].sum()),
        "store": store.display_url,
        "by_day": preview(days.drop(columns=["max_updated_at"]), rows=31),
    })


@dg.asset(
    **catalog.header("daily_event_partials"),
    group_name=EVENTS_GROUP,
    kinds={"sql"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    backfill_policy=DAILY_BACKFILL,
    retry_policy=RETRY,
    deps=[autofill_events],
)
def daily_event_partials(context: dg.AssetExecutionContext, store: LearningStore) -> dg.MaterializeResult:
    """Additive per-day sums by (host, schema_hash, family, segment, style): runs, feedback,
    ok runs, edit and duration sums. The window assets add 30 of these up instead of
    rescanning 30 days of events, so a six-hourly run costs one day of events."""
    start, end = partition_days(context)
    with store.transaction() as conn:
        rows = aggregates.rebuild_daily_event_partials(conn, start, end, utcnow())
    return dg.MaterializeResult(metadata={**catalog.row_count_metadata(context, store),
                                          "rows": rows, "first_day": str(start), "last_day": str(end)})


@dg.asset(
    **catalog.header("daily_field_map_counts"),
    group_name=EVENTS_GROUP,
    kinds={"sql"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    backfill_policy=DAILY_BACKFILL,
    retry_policy=RETRY,
    deps=[autofill_events],
)
def daily_field_map_counts(context: dg.AssetExecutionContext, store: LearningStore) -> dg.MaterializeResult:
    """Per day and form: each distinct `final_map` with the runs that sent it, for the
    canonical field maps (the window's maps are exploded into selectors when read)."""
    start, end = partition_days(context)
    with store.transaction() as conn:
        rows = aggregates.rebuild_daily_field_map_counts(conn, start, end)
    return dg.MaterializeResult(metadata={**catalog.row_count_metadata(context, store),
                                          "rows": rows, "first_day": str(start), "last_day": str(end)})


@dg.asset(
    **catalog.header("daily_impact_partials"),
    group_name=EVENTS_GROUP,
    kinds={"sql"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    backfill_policy=DAILY_BACKFILL,
    retry_policy=RETRY,
    deps=[autofill_events],
)
def daily_impact_partials(context: dg.AssetExecutionContext, store: LearningStore) -> dg.MaterializeResult:
    """Per day and (family, segment, profile_used, profile_source): runs, ok runs, edit count,
    sum and sum of squares (`daily_impact_partials`), and a duration histogram with fixed
    log-spaced buckets (`daily_duration_buckets`), for `learning_impact`. Additive, so the
    window is summed in SQL and a six-hourly run re-aggregates one day."""
    start, end = partition_days(context)
    with store.transaction() as conn:
        cells, buckets = impact.rebuild_daily_impact_partials(conn, start, end)
    return dg.MaterializeResult(metadata={**catalog.row_count_metadata(context, store),
                                          "rows": cells, "bucket_rows": buckets, "first_day": str(start),
                                          "last_day": str(end)})
