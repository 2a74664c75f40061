"""Form profiles as of a day: canonical field map, quality figures and the guard (SPEC 6)."""

import dagster as dg
import pandas as pd

from resources import LearningStore
from stylehint_assets.config import Settings
from ..partitions import daily_partitions, lookback_window
from ..clock import utcnow
from ..store.profile_figures import profile_summary
from ..store.snapshot_refresh import refresh_form_profiles
from ..groups import HINTS_GROUP
from . import catalog
from .common import OWNERS, RETRY, as_of_day, checked_window_days, preview
from .events import daily_event_partials, daily_field_map_counts


@dg.asset(
    **catalog.header("form_profiles"),
    group_name=HINTS_GROUP,
    kinds={"sql", "pandas"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    retry_policy=RETRY,
    deps=[
        dg.AssetDep(daily_event_partials, partition_mapping=lookback_window),
        dg.AssetDep(daily_field_map_counts, partition_mapping=lookback_window),
    ],
)
def form_profiles(context: dg.AssetExecutionContext, store: LearningStore,
                  settings: dg.ResourceParam[Settings]) -> dg.MaterializeResult:
    """Writes table `form_profile_snapshots` (one snapshot per as-of day), not `form_profiles`.

    Every (host, schema_hash) with an event in the window: canonical map (each selector's most
    frequent semantic), success rate, mean edit chars and duration, runs, last seen, segment, and
    the quality guard's verdict. Kept per as-of day in `form_profile_snapshots`; the served
    table `form_profiles` is replaced by `served_form_profiles` when a snapshot is published."""
    as_of = as_of_day(context)
    start, end = checked_window_days(context, store, daily_event_partials.key.to_python_identifier())
    with store.transaction() as conn:
        _, path = refresh_form_profiles(conn, as_of, start, end, settings.guard_policy, utcnow())
        profiles, served, head = profile_summary(conn, as_of)
    return dg.MaterializeResult(metadata={
        **catalog.row_count_metadata(context, store),
        "profiles": profiles,
        "served": served,
        "rejected": profiles - served,
        "window": f"{start}..{end}",
        "path": path,
        "preview": preview(pd.DataFrame(head)),
    })
