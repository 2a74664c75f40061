"""Impact of the learned profiles as of a day: runs with vs without a profile, with intervals."""

import dagster as dg

from resources import LearningStore
from stylehint_assets.config import Settings
from ..partitions import daily_partitions, lookback_window
from ..store import impact
from ..groups import IMPACT_GROUP
from . import catalog
from .common import OWNERS, RETRY, as_of_day, checked_window_days, preview
from .events import daily_impact_partials


@dg.asset(
    **catalog.header("learning_impact"),
    group_name=IMPACT_GROUP,
    kinds={"sql", "python"},
    owners=OWNERS,
    partitions_def=daily_partitions,
    retry_policy=RETRY,
    deps=[dg.AssetDep(daily_impact_partials, partition_mapping=lookback_window)],
    check_specs=[dg.AssetCheckSpec("impact_intervals_consistent", asset="learning_impact",
                                   description="Every interval contains its estimate (low <= value <= high), "
                                               "for both sides and the difference.")],
)
def learning_impact(context: dg.AssetExecutionContext, store: LearningStore,
                    settings: dg.ResourceParam[Settings]) -> dg.MaterializeResult:
    """Over the lookback window ending at the day: success ratio, mean edit chars and p50/p90
    duration of runs with vs without a profile (`profile_used`), overall, by profile source,
    host family and segment, each with its 95 % interval (Wilson; t; order statistics over
    fixed duration buckets), the difference with its interval (Newcombe; Welch; Bonferroni)
    and a `sufficient` flag and verdict. Kept per as-of day in the table `learning_impact`."""
    as_of = as_of_day(context)
    start, end = checked_window_days(context, store, daily_impact_partials.key.to_python_identifier())
    with store.transaction() as conn:
        rows = impact.rebuild_learning_impact(conn, as_of, start, end, settings.impact_min_runs)
    overall = rows[rows["dimension"] == "overall"]
    bad = _inconsistent(rows)
    verdicts = rows["verdict"].value_counts().to_dict() if not rows.empty else {}
    return dg.MaterializeResult(metadata={
        **catalog.row_count_metadata(context, store),
        "rows": len(rows),
        "window": f"{start}..{end}",
        "insufficient_rows": int((~rows["sufficient"].astype(bool)).sum()) if not rows.empty else 0,
        **{f"verdict_{k}": int(v) for k, v in sorted(verdicts.items())},
        "overall": preview(overall[["metric", "with_n", "with_value", "without_n", "without_value", "diff",
                                    "diff_low", "diff_high", "verdict"]].round(4)),
    }, check_results=[dg.AssetCheckResult(
        check_name="impact_intervals_consistent", passed=not bad, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(bad)} row(s) with an estimate outside its interval" if bad else "all intervals consistent",
        metadata={"examples": dg.MetadataValue.json(bad[:5])})])


def _inconsistent(rows) -> list[str]:
    bad = []
    for r in rows.to_dict("records"):
        for value, low, high in ((r["with_value"], r["with_low"], r["with_high"]),
                                 (r["without_value"], r["without_low"], r["without_high"]),
                                 (r["diff"], r["diff_low"], r["diff_high"])):
            if value is None or low is None or high is None or any(x != x for x in (value, low, high)):
                continue
            if not low - 1e-9 <= value <= high + 1e-9:
                bad.append(f"{r['dimension']}/{r['group_key']}/{r['metric']}")
                break
    return bad
