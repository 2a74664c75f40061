"""Jobs: the whole graph for one as-of day, and the daily assets over a range of days."""
from __future__ import annotations

import dagster as dg

from .groups import EVENTS_GROUP
from .partitions import daily_partitions

# Everything for one as-of day, down to the served profiles.
publish_hints_job = dg.define_asset_job(
    "publish_style_hints",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Materialize one as-of day down to published hints (with the day's events and partials).",
)

# The per-day assets only: what a window needs upstream, over a range in one run.
daily_partials_job = dg.define_asset_job(
    "refresh_daily_partials",
    selection=dg.AssetSelection.groups(EVENTS_GROUP),
    partitions_def=daily_partitions,
    description="Re-aggregate the per-day partials of a range of event days.",
)

# The jobs that aggregate: counted by the agg-run sensors, and waited for by the aggregation sensors.
AGGREGATION_JOBS = [publish_hints_job, daily_partials_job]
# Asset backfills and the UI's "Materialize" run Dagster's implicit asset job; every asset of this
# code location aggregates, so the sensors wait for those runs (and fail dead ones) too.
ASSET_BACKFILL_JOB = "__ASSET_JOB"
AGGREGATION_JOB_NAMES = (*(job.name for job in AGGREGATION_JOBS), ASSET_BACKFILL_JOB)
