"""Style statistics over the lookback window at three levels: form, segment, family (SPEC 4)."""

import dagster as dg

from resources import LearningStore
from ..partitions import daily_partitions, lookback_window
from ..clock import utcnow
from ..store import aggregates
from ..store.snapshot_refresh import refresh_style_stats
from ..groups import STATS_GROUP
from . import catalog
from .common import OWNERS, RETRY, as_of_day, checked_window_days, preview
from .events import daily_event_partials

_DESCRIPTIONS = {
    "form": "Per (host, schema_hash, gen_style_id)",
    "segment": "Per (host_family, segment_key, gen_style_id), families other than `other`, known segments",
    "family": "Per (host_family, gen_style_id), families other than `other`",
}


def _style_stats_asset(level: str) -> dg.AssetsDefinition:
    name = f"{level}_style_stats"

    @dg.asset(
        **catalog.header(name),
        name=name,
        description=(f"{_DESCRIPTIONS[level]}: total runs, helpful, unhelpful, helpful ratio and mean effective "
                     "edit chars over the lookback window ending at the partition's day, added up from the "
                     "daily partials in the database. Only runs with a gen_style_id count."),
        group_name=STATS_GROUP,
        kinds={"sql"},
        owners=OWNERS,
        partitions_def=daily_partitions,
        retry_policy=RETRY,
        deps=[dg.AssetDep(daily_event_partials, partition_mapping=lookback_window)],
    )
    def _asset(context: dg.AssetExecutionContext, store: LearningStore) -> dg.MaterializeResult:
        as_of = as_of_day(context)
        start, end = checked_window_days(context, store, daily_event_partials.key.to_python_identifier())
        table = aggregates.STATS_TABLES[level]
        with store.transaction() as conn:
            rows, path = refresh_style_stats(conn, level, as_of, start, end, utcnow())
            styles, runs, top = aggregates.style_stats_summary(conn, level, as_of)
        return dg.MaterializeResult(metadata={
            **catalog.row_count_metadata(context, store),
            "rows": rows, "window": f"{start}..{end}", "path": path, "styles": styles, "runs": runs, "preview": preview(top),
            "table": table.name,
        })

    return _asset


form_style_stats = _style_stats_asset("form")
segment_style_stats = _style_stats_asset("segment")
family_style_stats = _style_stats_asset("family")
