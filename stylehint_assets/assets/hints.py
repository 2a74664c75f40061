"""Style hints as of a day (SPEC 5), their checks, and the publication of the served profiles."""

from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from resources import LearningStore
from stylehint_assets.config import Settings
from ..domain.coverage import coverage
from ..partitions import LOOKBACK_DAYS, daily_partitions, window_for
from ..snapshot_checks import (
    CHECK_DESCRIPTIONS, PublishedFigures, gate_checks, hints_integrity_counts, kpi_checks,
    newest_partition_freshness, style_stats_integrity,
)
from ..store import aggregates
from ..store.backlog import newest_event_at
from ..store.reads import published_coverage
from ..metrics.push import push_run_series
from ..store.hint_choice import hint_summary, integrity_violations
from ..store.snapshot_refresh import refresh_style_hints
from ..store.retention import prune_snapshots
from ..store.snapshots import publish
from ..clock import utcnow
from ..groups import HINTS_GROUP
from ..publish_freshness import served_snapshot_freshness
from . import catalog
from .common import OWNERS, RETRY, as_of_day, preview
from .profiles import form_profiles
from .style_stats import family_style_stats, form_style_stats, segment_style_stats

_SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}
STYLE_HINT_CHECKS = [
    dg.AssetCheckSpec(name, asset="style_hints", description=description, blocking=severity == "ERROR")
    for name, (severity, description) in CHECK_DESCRIPTIONS.items()
]


@dg.asset(
    **catalog.header("style_hints"),
    group_name=HINTS_GROUP,
    kinds={"pandas", "sql"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    retry_policy=RETRY,
    deps=[form_style_stats, segment_style_stats, family_style_stats, form_profiles],
    check_specs=STYLE_HINT_CHECKS,
)
def style_hints(context: dg.AssetExecutionContext, store: LearningStore,
                settings: dg.ResourceParam[Settings]) -> dg.MaterializeResult:
    """One hint per profile as of the day: the first level with a candidate wins (form, then
    segment, then family, else none), the best style ranked by helpful ratio, then lowest mean
    edit chars, then most runs, then name. Kept per as-of day in `style_hints` so history and
    backfills stay inspectable. Failed ERROR checks (integrity, a sudden regression against the
    published snapshot) block the publication downstream; missed product targets only warn."""
    as_of = as_of_day(context)
    with store.transaction() as conn:
        _, path = refresh_style_hints(conn, as_of, LOOKBACK_DAYS, settings.thresholds, settings.ranking)
        sources, head = hint_summary(conn, as_of)
        integrity = integrity_violations(conn, as_of)
        violations = aggregates.stats_violations(conn, as_of)
        newest = newest_event_at(conn, *window_for(as_of))
        served = published_coverage(conn)
    cov = coverage(Counter(sources).elements())
    published = PublishedFigures(*served) if served else None
    outcomes = [hints_integrity_counts(integrity), style_stats_integrity(violations),
                *gate_checks(cov, as_of, published, settings), *kpi_checks(cov, settings),
                newest_partition_freshness(newest, as_of, utcnow(), settings.freshness_max_lag_hours)]
    return dg.MaterializeResult(
        metadata={
            **catalog.row_count_metadata(context, store),
            "profiles": cov["profiles"],
            **{f"share_{s}": dg.MetadataValue.float(round(float(cov[f"{s}_share"]), 4))
               for s in ("form", "segment", "family", "none")},
            "covered_share": dg.MetadataValue.float(round(float(cov["covered_share"]), 4)),
            "ranking": settings.ranking,
            "path": path,
            "preview": preview(pd.DataFrame(head)),
        },
        check_results=[
            dg.AssetCheckResult(check_name=o.name, passed=o.passed, severity=_SEVERITY[o.severity],
                                description=o.description, metadata=o.metadata)
            for o in outcomes
        ],
    )


@dg.asset(
    **catalog.header("served_form_profiles"),
    group_name=HINTS_GROUP,
    kinds={"sql"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    retry_policy=RETRY,
    deps=[style_hints, form_profiles],
    freshness_policy=served_snapshot_freshness,
    output_required=False,
)
def served_form_profiles(context: dg.AssetExecutionContext, store: LearningStore,
                         settings: dg.ResourceParam[Settings]) -> Iterator[dg.MaterializeResult]:
    """Writes table `form_profiles`, the served table the extension reads.

    Replaced with this day's profiles and hints in one transaction, unless a newer snapshot is
    already published. Runs only when the hints' blocking checks pass, so a failed check leaves the previous snapshot served. A day that
    publishes nothing (an older snapshot than the served one) is no materialization, so it
    cannot make the served snapshot look fresh."""
    as_of = as_of_day(context)
    with store.transaction() as conn:
        result = publish(conn, as_of, utcnow(), context.run_id)
    push_run_series(store.engine, settings)   # run-level totals after the commit (SPEC 7); no-op without a Pushgateway
    published_day = as_of if result.published else result.current_as_of
    with store.transaction() as conn:   # after the publish commits: retention never delays the served view
        pruned = prune_snapshots(conn, max(as_of, published_day or as_of), published_day,
                                 settings.snapshot_retention_days, settings.lookback_days)
    if not result.published:
        context.log.info(f"not published: snapshot {result.current_as_of} is newer than {as_of}")
        return
    yield dg.MaterializeResult(metadata={
        **catalog.row_count_metadata(context, store),
        "profiles": result.profiles,
        "served": result.served,
        "published_as_of": str(as_of),
        "snapshot_rows_pruned": sum(pruned.values()),
    })
