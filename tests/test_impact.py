"""learning_impact (SQLite and PostgreSQL) against an independent pandas computation over the raw
events, and the impact figures' methods on hand-made numbers."""
import math
from bisect import bisect_right
from datetime import date, datetime

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from stylehint_assets.assets.impact import _inconsistent
from stylehint_assets.domain.impact import DURATION_EDGES, Side, compare, quantile_figure
from stylehint_assets.domain.intervals import quantile_interval, t_quantile
from stylehint_assets.domain.records import Record
from stylehint_assets.store.impact import impact_as_of, rebuild_daily_impact_partials
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.schema import autofill_events, daily_duration_buckets
from stylehint_assets.synthetic import generate_events

from .graph_helpers import effective_edit_reference, ingest_events, snapshot

AS_OF = date(2025, 3, 30)
N = 6_000
Z = 1.959963984540054


def wilson(s, n, z=Z):
    """Textbook Wilson score interval (Wilson 1927), written out independently."""
    p = s / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _reference_groups(window: pd.DataFrame) -> dict[tuple[str, str], tuple[pd.DataFrame, pd.DataFrame]]:
    known = window[window.profile_used.notna()]
    used, unused = known[known.profile_used.astype(bool)], known[~known.profile_used.astype(bool)]
    out = {("overall", "all"): (used, unused)}
    for fam in known.host_family.unique():
        out[("host_family", fam)] = (used[used.host_family == fam], unused[unused.host_family == fam])
    seg = known.segment_key.fillna("(null)")
    for s in seg.unique():
        out[("segment", s)] = (used[seg[used.index] == s], unused[seg[unused.index] == s])
    src = known.profile_source.fillna("(null)")
    for s in src.unique():
        out[("profile_source", s)] = (used[src[used.index] == s], unused)
    return out


@pytest.fixture(scope="module")
def generated():
    return list(generate_events(N, AS_OF, days=30, seed=5))


def test_impact_equals_pandas_over_raw_events(engine, settings, generated):
    report = ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(generated)), settings=settings,
                            received_at=datetime(2025, 3, 31))
    assert report.accepted == N
    with dg.instance_for_test() as instance:
        snapshot(instance, settings, AS_OF)
    with engine.connect() as conn:
        raw = pd.DataFrame(conn.execute(select(autofill_events)).mappings().all())
        ours = {(r["dimension"], r["group_key"], r["metric"]): r for r in impact_as_of(conn, AS_OF)}
    window = raw[(raw.event_day >= date(2025, 3, 1)) & (raw.event_day <= AS_OF)].copy()
    window["edit"] = window.apply(effective_edit_reference, axis=1).astype(float)

    groups = _reference_groups(window)
    assert {(d, g) for d, g, _ in ours} == set(groups)
    checked_quantiles = 0
    for (dim, group), (w, wo) in groups.items():
        # success ratio: counts, ratio, textbook Wilson interval
        r = ours[(dim, group, "success_ratio")]
        assert (r["with_n"], r["without_n"]) == (len(w), len(wo)), (dim, group)
        for side, part in (("with", w), ("without", wo)):
            if len(part):
                ok = int((part.status == "ok").sum())
                assert r[f"{side}_value"] == pytest.approx(ok / len(part))
                assert (r[f"{side}_low"], r[f"{side}_high"]) == pytest.approx(wilson(ok, len(part)), abs=1e-9)
        if len(w) and len(wo):
            assert r["diff"] == pytest.approx((w.status == "ok").mean() - (wo.status == "ok").mean())
        # mean edit chars: mean and t interval from the raw values (sample sd)
        r = ours[(dim, group, "edit_chars_mean")]
        for side, part in (("with", w), ("without", wo)):
            values = part.edit.dropna()
            assert r[f"{side}_n"] == len(values)
            if len(values) >= 2:
                half = t_quantile(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
                assert r[f"{side}_value"] == pytest.approx(values.mean())
                assert (r[f"{side}_low"], r[f"{side}_high"]) == pytest.approx(
                    (values.mean() - half, values.mean() + half), rel=1e-9)
        # p50/p90 durations: the exact order statistics lie inside the reported buckets
        for metric, q in (("duration_p50", 0.5), ("duration_p90", 0.9)):
            r = ours[(dim, group, metric)]
            for side, part in (("with", w), ("without", wo)):
                values = np.sort(part.duration_ms.dropna().to_numpy())
                assert r[f"{side}_n"] == len(values)
                if not len(values):
                    continue
                exact = values[max(1, math.ceil(q * len(values))) - 1]     # nearest rank
                assert abs(r[f"{side}_value"] - exact) <= max(1.0, 0.03 * exact), (dim, group, metric)
                ranks = quantile_interval(range(1, len(values) + 1), q)
                if ranks is not None:
                    assert r[f"{side}_low"] <= values[ranks[0] - 1] <= values[ranks[1] - 1] < r[f"{side}_high"]
                    assert r[f"{side}_high"] <= values[ranks[1] - 1] * 1.06 + 1
                    checked_quantiles += 1
    assert checked_quantiles > 20
    overall = ours[("overall", "all", "success_ratio")]
    assert overall["sufficient"] and overall["verdict"] in {"better", "worse", "inconclusive"}
    assert any(not r["sufficient"] and r["verdict"] == "insufficient" for r in ours.values())   # small groups shown
    assert _inconsistent(pd.DataFrame(list(ours.values()))) == []          # the asset check's rule


def test_proportion_difference_and_verdicts():
    with_, without = Side(runs=70, ok_runs=56), Side(runs=80, ok_runs=48)
    row = compare("success_ratio", with_, without, min_runs=30)
    assert row["diff"] == pytest.approx(0.2)
    assert (row["diff_low"], row["diff_high"]) == pytest.approx((0.0524, 0.3339), abs=1e-4)   # Newcombe 1998
    assert row["sufficient"] and row["verdict"] == "better"
    small = compare("success_ratio", Side(runs=5, ok_runs=5), Side(runs=80, ok_runs=48), min_runs=30)
    assert not small["sufficient"] and small["verdict"] == "insufficient" and small["with_value"] == 1.0


def test_mean_difference_is_welch():
    a = [12.0, 15, 11, 19, 14, 13, 16, 18, 10, 17]
    b = [20.0, 22, 19, 25, 21, 24, 23, 18, 26, 22, 21, 20]

    def side(values):
        return Side(edit_count=len(values), edit_sum=sum(values), edit_sq_sum=sum(v * v for v in values))

    row = compare("edit_chars_mean", side(a), side(b), min_runs=5)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(0.975, df) * math.sqrt(va + vb)
    diff = np.mean(a) - np.mean(b)
    assert (row["diff"], row["diff_low"], row["diff_high"]) == pytest.approx((diff, diff - half, diff + half))
    assert row["verdict"] == "better"          # fewer edited characters with the profile


def test_quantile_from_buckets_brackets_the_exact_order_statistics():
    rng = np.random.default_rng(3)
    values = np.sort(np.round(np.exp(rng.normal(8.7, 0.8, 500))).astype(int))
    buckets = {}
    for v in values:
        b = int(np.searchsorted(DURATION_EDGES, v, side="right")) - 1
        buckets[b] = buckets.get(b, 0) + 1
    fig = quantile_figure(buckets, 0.9)
    low_rank, high_rank = quantile_interval(range(1, 501), 0.9)
    assert fig.low <= values[low_rank - 1] and values[high_rank - 1] < fig.high
    assert fig.value == pytest.approx(values[449], rel=0.03)
    assert quantile_figure({}, 0.5).value is None
    assert quantile_figure({10: 3}, 0.5).low is None      # 3 values: no 95 % interval for the median


def test_gauge_samples_have_a_fixed_label_set_and_nan_for_missing_figures():
    from stylehint_assets.domain.impact import CellKey, gauge_samples, impact_rows

    cells = {
        CellKey("greenhouse", "senior", True, "server_only"): Side(runs=50, ok_runs=45, buckets={300: 50}),
        CellKey("greenhouse", "senior", True, "surprise"): Side(runs=3, ok_runs=3),
        CellKey("lever", None, False, "heuristics_only"): Side(runs=40, ok_runs=30, buckets={310: 40}),
        CellKey("lever", None, None, None): Side(runs=9, ok_runs=9),
    }
    sources = ("server_only", "local_only", "merged", "heuristics_only")
    samples = gauge_samples(impact_rows(cells), 1743292800.0, sources)
    by = {(name, tuple(sorted(labels.items()))): v for name, labels, v in samples}
    assert len(by) == len(samples)
    assert by[("applylens_autofill_impact_as_of_timestamp_seconds", ())] == 1743292800.0
    assert by[("applylens_autofill_impact_runs", (("profile_source", "all"), ("profile_used", "true")))] == 53
    assert by[("applylens_autofill_impact_runs", (("profile_source", "all"), ("profile_used", "false")))] == 40
    assert by[("applylens_autofill_impact_success_ratio",
               (("profile_source", "server_only"), ("profile_used", "true")))] == pytest.approx(0.9)
    assert by[("applylens_autofill_impact_sufficient", (("metric", "success_ratio"), ("profile_source", "all")))] == 1.0
    assert by[("applylens_autofill_impact_runs", (("profile_source", "merged"), ("profile_used", "true")))] == 0
    # no edit data anywhere: NaN ("nothing to say"), never 0
    assert math.isnan(by[("applylens_autofill_impact_edit_chars_mean",
                          (("profile_source", "all"), ("profile_used", "true")))])
    values = {v for _, ls, _ in samples for k, v in ls.items() if k == "profile_source"}
    assert values == {"all", "unknown", *sources}            # "surprise" is not exported: bounded
    empty = gauge_samples([], None, sources)                 # a fresh store: the same series
    assert [(n, ls) for n, ls, _ in empty] == [(n, ls) for n, ls, _ in samples]


def test_duration_buckets_match_the_edges_on_every_backend(engine, settings):
    """Bucket i holds [DURATION_EDGES[i], DURATION_EDGES[i + 1]): every edge, the value below
    it and the open top bucket land where the domain's edges say, in SQL on each backend."""
    picks = [DURATION_EDGES[i] for i in (0, 1, 199, 200, 201, 250, len(DURATION_EDGES) - 2, len(DURATION_EDGES) - 1)]
    durations = sorted({max(0, d + delta) for d in picks for delta in (-1, 0, 1)} | {10**9})
    ingest_events(engine, settings, [{"event_id": f"d{ms}", "host": "boards.greenhouse.io", "schema_hash": "f",
                                      "created_at": "2025-03-30T10:00:00", "duration_ms": ms} for ms in durations])
    with engine.begin() as conn:
        rebuild_daily_impact_partials(conn, date(2025, 3, 30), date(2025, 3, 30))
    with engine.connect() as conn:
        got = dict(conn.execute(select(daily_duration_buckets.c.bucket, daily_duration_buckets.c.n)).all())
    expected: dict[int, int] = {}
    for ms in durations:
        b = bisect_right(DURATION_EDGES, ms) - 1
        expected[b] = expected.get(b, 0) + 1
    assert got == expected
