"""Impact of the learned profiles: runs with vs without a profile, with 95 % intervals.

Pure functions over aggregated counts (the database does the grouping; see
``store/impact.py``). Per metric and group, both sides get a point estimate and an interval,
and the difference (with - without) gets its own interval, so "with a profile is better" is
read off an interval that excludes zero, not guessed from two point estimates.

Methods (95 % throughout):

* ``success_ratio`` (share of runs with status ``ok``): Wilson score interval per side;
  difference by Newcombe's hybrid score interval (method 10).
* ``edit_chars_mean`` (mean effective edit chars over runs that have them): t interval per
  side from n, sum and sum of squares (sample sd, n - 1); difference by Welch's t interval
  (Welch-Satterthwaite degrees of freedom). Edit counts are skewed: the interval relies on
  the central limit theorem, hence the minimum group size below.
* ``duration_p50`` / ``duration_p90``: from per-day duration histograms with fixed
  log-spaced buckets (``DURATION_EDGES``: 1 ms wide below 200 ms, then 5 % wide up to 1 h,
  one open bucket above). The point estimate is the middle of the bucket holding the
  nearest-rank order statistic ceil(q n); the interval is the distribution-free
  order-statistic interval (``intervals.quantile_interval``) widened to the outer edges of
  the buckets holding its two ranks, so it covers the exact interval. Resolution: a value is
  known to within its bucket (<= 5 %). Difference: the conservative Bonferroni combination
  [low_w - high_wo, high_w - low_wo] of two 97.5 % intervals (joint coverage >= 95 %).

A side with fewer than ``min_runs`` observations for the metric (or too few for the
interval) makes the row ``sufficient = False`` with verdict ``insufficient``: it is kept and
shown, not hidden.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .intervals import mean_interval, newcombe_difference, quantile_interval, t_quantile, wilson_interval

CONFIDENCE = 0.95
DEFAULT_MIN_RUNS = 30
METRICS = ("success_ratio", "edit_chars_mean", "duration_p50", "duration_p90")
LOWER_IS_BETTER = {"edit_chars_mean", "duration_p50", "duration_p90"}
QUANTILES = {"duration_p50": 0.5, "duration_p90": 0.9}
DIMENSIONS = ("overall", "profile_source", "host_family", "segment")
NULL_GROUP = "(null)"


def _duration_edges() -> tuple[int, ...]:
    edges = set(range(0, 200))
    x = 200.0
    while x < 3_600_000:
        edges.add(round(x))
        x *= 1.05
    edges.add(3_600_000)
    return tuple(sorted(edges))


# Bucket i holds durations in [DURATION_EDGES[i], DURATION_EDGES[i + 1]); the last one is open.
DURATION_EDGES = _duration_edges()


def bucket_bounds(bucket: int) -> tuple[float, float | None]:
    """[low, high) of a duration bucket; high is None for the open top bucket."""
    low = float(DURATION_EDGES[bucket])
    return low, (float(DURATION_EDGES[bucket + 1]) if bucket + 1 < len(DURATION_EDGES) else None)


@dataclass
class Side:
    """Aggregated figures of one side (with or without a profile) of one group."""

    runs: int = 0
    ok_runs: int = 0
    edit_count: int = 0
    edit_sum: float = 0.0
    edit_sq_sum: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, other: "Side") -> None:
        self.runs += other.runs
        self.ok_runs += other.ok_runs
        self.edit_count += other.edit_count
        self.edit_sum += other.edit_sum
        self.edit_sq_sum += other.edit_sq_sum
        for b, n in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + n

    def edit_sd(self) -> float | None:
        n = self.edit_count
        if n < 2:
            return None
        var = (self.edit_sq_sum - self.edit_sum * self.edit_sum / n) / (n - 1)
        return math.sqrt(max(var, 0.0))


@dataclass(frozen=True)
class Figure:
    n: int
    value: float | None
    low: float | None
    high: float | None


def _bucket_of_rank(cum: Sequence[tuple[int, int]], rank: int) -> int:
    """The bucket holding the ``rank``-th smallest value (1-based); cum = (bucket, cumulative n)."""
    for bucket, total in cum:
        if total >= rank:
            return bucket
    raise ValueError(f"rank {rank} beyond {cum[-1][1] if cum else 0} values")


@lru_cache(maxsize=1024)
def _rank_interval(n: int, q: float, confidence: float) -> tuple[float, float] | None:
    """The order-statistic ranks for n values; cached, since every profile_source row compares
    against the same baseline side."""
    return quantile_interval(range(1, n + 1), q, confidence)


def quantile_figure(buckets: Mapping[int, int], q: float, confidence: float = CONFIDENCE) -> Figure:
    """Quantile and its order-statistic interval from a duration histogram (see the module doc)."""
    n = sum(buckets.values())
    if n == 0:
        return Figure(0, None, None, None)
    cum, total = [], 0
    for b in sorted(buckets):
        if buckets[b]:
            total += buckets[b]
            cum.append((b, total))
    low_edge, high_edge = bucket_bounds(_bucket_of_rank(cum, max(1, math.ceil(q * n))))
    value = low_edge if high_edge is None else (low_edge + high_edge) / 2
    ranks = _rank_interval(n, q, confidence)
    if ranks is None:
        return Figure(n, value, None, None)
    low = bucket_bounds(_bucket_of_rank(cum, ranks[0]))[0]
    high = bucket_bounds(_bucket_of_rank(cum, ranks[1]))[1]
    return Figure(n, value, low, high)


def proportion_figure(successes: int, n: int, confidence: float = CONFIDENCE) -> Figure:
    if n == 0:
        return Figure(0, None, None, None)
    low, high = wilson_interval(successes, n, confidence)
    return Figure(n, successes / n, low, high)


def mean_figure(side: Side, confidence: float = CONFIDENCE) -> Figure:
    n = side.edit_count
    if n == 0:
        return Figure(0, None, None, None)
    mean = side.edit_sum / n
    sd = side.edit_sd()
    interval = mean_interval(n=n, mean=mean, sd=sd, confidence=confidence) if sd is not None else None
    return Figure(n, mean, *(interval[1:] if interval else (None, None)))


def welch_difference(a: Side, b: Side, confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """(mean_a - mean_b, low, high) by Welch's t interval; None when a side has < 2 values."""
    sa, sb = a.edit_sd(), b.edit_sd()
    if sa is None or sb is None:
        return None
    na, nb = a.edit_count, b.edit_count
    diff = a.edit_sum / na - b.edit_sum / nb
    va, vb = sa * sa / na, sb * sb / nb
    se = math.sqrt(va + vb)
    if se == 0.0:
        return (diff, diff, diff)
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_quantile(1.0 - (1.0 - confidence) / 2.0, max(df, 1.0)) * se
    return (diff, diff - half, diff + half)


def _verdict(metric: str, sufficient: bool, low: float | None, high: float | None) -> str:
    if not sufficient or low is None or high is None:
        return "insufficient"
    if low > 0:
        return "worse" if metric in LOWER_IS_BETTER else "better"
    if high < 0:
        return "better" if metric in LOWER_IS_BETTER else "worse"
    return "inconclusive"


def compare(metric: str, with_: Side, without: Side, min_runs: int = DEFAULT_MIN_RUNS,
            confidence: float = CONFIDENCE) -> dict[str, Any]:
    """One output row's figures for ``metric``: both sides, the difference, sufficiency, verdict."""
    diff: tuple[float, float, float] | None = None
    if metric == "success_ratio":
        w, wo = proportion_figure(with_.ok_runs, with_.runs, confidence), proportion_figure(
            without.ok_runs, without.runs, confidence)
        if w.n and wo.n:
            diff = newcombe_difference(with_.ok_runs, with_.runs, without.ok_runs, without.runs, confidence)
    elif metric == "edit_chars_mean":
        w, wo = mean_figure(with_, confidence), mean_figure(without, confidence)
        diff = welch_difference(with_, without, confidence)
        if diff is None and w.value is not None and wo.value is not None:
            diff = (w.value - wo.value, None, None)
    elif metric in QUANTILES:
        q = QUANTILES[metric]
        w, wo = quantile_figure(with_.buckets, q, confidence), quantile_figure(without.buckets, q, confidence)
        if w.value is not None and wo.value is not None:
            joint = 1.0 - (1.0 - confidence) / 2.0  # Bonferroni: two 97.5 % intervals
            w2, wo2 = quantile_figure(with_.buckets, q, joint), quantile_figure(without.buckets, q, joint)
            if None in (w2.low, w2.high, wo2.low, wo2.high):
                diff = (w.value - wo.value, None, None)
            else:
                diff = (w.value - wo.value, w2.low - wo2.high, w2.high - wo2.low)
    else:
        raise ValueError(f"unknown metric {metric!r}")
    d_value, d_low, d_high = diff if diff is not None else (None, None, None)
    sufficient = (w.n >= min_runs and wo.n >= min_runs and None not in (w.low, w.high, wo.low, wo.high)
                  and d_low is not None and d_high is not None)
    return {
        "metric": metric,
        "with_n": w.n, "with_value": w.value, "with_low": w.low, "with_high": w.high,
        "without_n": wo.n, "without_value": wo.value, "without_low": wo.low, "without_high": wo.high,
        "diff": d_value, "diff_low": d_low, "diff_high": d_high,
        "sufficient": bool(sufficient), "verdict": _verdict(metric, sufficient, d_low, d_high),
    }


@dataclass(frozen=True)
class CellKey:
    """The grain of the aggregated rows: one (family, segment, profile_used, profile_source)."""

    host_family: str
    segment_key: str | None
    profile_used: bool | None
    profile_source: str | None


def group_sides(cells: Mapping[CellKey, Side]) -> dict[tuple[str, str], tuple[Side, Side]]:
    """(dimension, group) -> (with, without) sides.

    * overall/all: profile_used true vs false;
    * host_family/F and segment/S: the same, within the family or segment;
    * profile_source/P: runs that applied a profile from source P against all runs that applied
      none (the baseline), so each source is judged against the same reference. A source that
      only occurs without a profile (e.g. heuristics_only) has an empty "with" side.
    Runs whose profile_used is null are left out of every comparison.
    """
    out: dict[tuple[str, str], tuple[Side, Side]] = {("overall", "all"): (Side(), Side())}  # always reported

    def side(dim: str, group: str, used: bool) -> Side:
        pair = out.setdefault((dim, group), (Side(), Side()))
        return pair[0] if used else pair[1]

    baseline = Side()
    sources: set[str] = set()
    for key, cell in sorted(cells.items(), key=lambda kv: repr(kv[0])):
        if key.profile_used is None:
            continue
        used = bool(key.profile_used)
        source = key.profile_source or NULL_GROUP
        sources.add(source)
        side("overall", "all", used).add(cell)
        side("host_family", key.host_family, used).add(cell)
        side("segment", key.segment_key or NULL_GROUP, used).add(cell)
        if used:
            side("profile_source", source, True).add(cell)
        else:
            baseline.add(cell)
    for source in sources:
        pair = out.setdefault(("profile_source", source), (Side(), Side()))
        pair[1].add(baseline)
    return out


def impact_rows(cells: Mapping[CellKey, Side], min_runs: int = DEFAULT_MIN_RUNS,
                confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Every (dimension, group, metric) row, in a stable order."""
    rows = []
    groups = group_sides(cells)
    for (dim, group) in sorted(groups, key=lambda k: (DIMENSIONS.index(k[0]), k[1])):
        with_, without = groups[(dim, group)]
        for metric in METRICS:
            rows.append({"dimension": dim, "group_key": group, **compare(metric, with_, without, min_runs, confidence)})
    return rows


def cells_from_rows(sums: Iterable[Mapping[str, Any]], buckets: Iterable[Mapping[str, Any]]) -> dict[CellKey, Side]:
    """Build the cells from the database's aggregated rows (sums per cell, counts per bucket)."""
    cells: dict[CellKey, Side] = {}

    def key_of(r: Mapping[str, Any]) -> CellKey:
        used = r["profile_used"]
        return CellKey(r["host_family"], r["segment_key"], None if used is None else bool(used), r["profile_source"])

    for r in sums:
        cells[key_of(r)] = Side(int(r["runs"]), int(r["ok_runs"]), int(r["edit_count"]), float(r["edit_sum"]),
                                float(r["edit_sq_sum"]))
    for r in buckets:
        side = cells.setdefault(key_of(r), Side())
        side.buckets[int(r["bucket"])] = side.buckets.get(int(r["bucket"]), 0) + int(r["n"])
    return cells


# --- Prometheus gauges from the newest learning_impact partition --------------------------------
# Bounded label sets: profile_used in {true, false}; profile_source in {all, the SPEC 1 sources,
# unknown}; metric in METRICS. "false" is exported only for profile_source="all": every source is
# compared with the same baseline (the runs without a profile).
GAUGE_PREFIX = "applylens_autofill_impact_"
GAUGE_VALUES = {  # metric -> gauge name (estimate; _low and _high carry the 95 % interval)
    "success_ratio": GAUGE_PREFIX + "success_ratio",
    "edit_chars_mean": GAUGE_PREFIX + "edit_chars_mean",
    "duration_p50": GAUGE_PREFIX + "duration_p50_seconds",
    "duration_p90": GAUGE_PREFIX + "duration_p90_seconds",
}
# learning_impact keeps durations in ms, as the events do; the gauges use base units (seconds).
GAUGE_SCALE = {"duration_p50": 0.001, "duration_p90": 0.001}
GAUGE_RUNS = GAUGE_PREFIX + "runs"
GAUGE_DIFF = GAUGE_PREFIX + "difference"
GAUGE_SUFFICIENT = GAUGE_PREFIX + "sufficient"
GAUGE_AS_OF = GAUGE_PREFIX + "as_of_timestamp_seconds"
GAUGE_HELP = {
    GAUGE_AS_OF: "As-of day (00:00 UTC, Unix seconds) of the newest learning_impact partition the impact gauges come from.",
    GAUGE_RUNS: "Runs with (profile_used=true) or without a profile over the lookback window of the newest learning_impact partition.",
    GAUGE_DIFF: "With minus without a profile (newest learning_impact partition; durations in seconds); "
                "_low/_high: 95 % interval.",
    GAUGE_SUFFICIENT: "1 when both sides have enough runs for the comparison to say something, else 0.",
    GAUGE_VALUES["success_ratio"]: "Share of runs with status ok, with vs without a profile; _low/_high: 95 % Wilson interval.",
    GAUGE_VALUES["edit_chars_mean"]: "Mean edited characters, with vs without a profile; _low/_high: 95 % t interval.",
    GAUGE_VALUES["duration_p50"]: "Median time to fill (seconds), with vs without a profile; _low/_high: 95 % order-statistic interval.",
    GAUGE_VALUES["duration_p90"]: "p90 time to fill (seconds), with vs without a profile; _low/_high: 95 % order-statistic interval.",
}


def _source_label(row: Mapping[str, Any]) -> str | None:
    if row["dimension"] == "overall":
        return "all"
    if row["dimension"] == "profile_source":
        return "unknown" if row["group_key"] == NULL_GROUP else row["group_key"]
    return None


def gauge_samples(rows: Iterable[Mapping[str, Any]], as_of_epoch: float | None,
                  sources: Sequence[str]) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of the impact gauges from one partition's rows.

    Every label set is known in advance (``sources`` are the SPEC 1 profile sources; plus
    ``all`` and ``unknown``) and always exported, so the series count is fixed: a figure without
    data is NaN ("nothing to say"), never 0; runs and ``sufficient`` are 0 then. The as-of
    gauge is 0 before the first partition. Groups outside that set are not exported."""
    labels_sources = ("all", *sources, "unknown")
    figures: dict[tuple[str, str, str], float] = {}   # (name, profile_used, source) -> value
    comparisons: dict[tuple[str, str, str], float] = {}  # (name, metric, source) -> value
    for r in rows:
        source = _source_label(r)
        if source not in labels_sources:
            continue
        metric = r["metric"]
        scale = GAUGE_SCALE.get(metric, 1.0)
        for used, side in [("true", "with")] + ([("false", "without")] if source == "all" else []):
            if metric == "success_ratio" and r[f"{side}_n"] is not None:
                figures[(GAUGE_RUNS, used, source)] = float(r[f"{side}_n"])
            for suffix, col in (("", "value"), ("_low", "low"), ("_high", "high")):
                value = r[f"{side}_{col}"]
                if value is not None:
                    figures[(GAUGE_VALUES[metric] + suffix, used, source)] = float(value) * scale
        comparisons[(GAUGE_SUFFICIENT, metric, source)] = 1.0 if r["sufficient"] else 0.0
        for suffix, col in (("", "diff"), ("_low", "diff_low"), ("_high", "diff_high")):
            if r[col] is not None:
                comparisons[(GAUGE_DIFF + suffix, metric, source)] = float(r[col]) * scale
    nan = float("nan")
    out: list[tuple[str, dict[str, str], float]] = [(GAUGE_AS_OF, {}, float(as_of_epoch or 0.0))]
    sides = [("true", s) for s in labels_sources] + [("false", "all")]
    for name in (GAUGE_RUNS, *(g + x for g in GAUGE_VALUES.values() for x in ("", "_low", "_high"))):
        for used, source in sides:
            default = 0.0 if name == GAUGE_RUNS else nan
            out.append((name, {"profile_used": used, "profile_source": source},
                        figures.get((name, used, source), default)))
    for name in (GAUGE_SUFFICIENT, GAUGE_DIFF, GAUGE_DIFF + "_low", GAUGE_DIFF + "_high"):
        for metric in METRICS:
            for source in labels_sources:
                default = 0.0 if name == GAUGE_SUFFICIENT else nan
                out.append((name, {"metric": metric, "profile_source": source},
                            comparisons.get((name, metric, source), default)))
    return out
