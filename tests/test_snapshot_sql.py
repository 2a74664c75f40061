"""The set-based snapshot SQL on both backends, without Dagster: every SPEC 5 tie-break, the
SPEC 6 reject reasons formatted as Python formats them, retention, and the window."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from stylehint_assets.domain.profiles import GuardPolicy, QualityGuard
from stylehint_assets.domain.ranking import StyleStat, Thresholds, best_style
from stylehint_assets.partitions import daily_partitions, lookback_window, window_for
from stylehint_assets.store.engine import fixed_point
from stylehint_assets.store.hint_choice import assemble_hints, build_style_hints
from stylehint_assets.store.profile_figures import build_form_profiles
from stylehint_assets.store.retention import SNAPSHOT_TABLES, prune_snapshots, retention_cutoff
from stylehint_assets.store.schema import (
    daily_event_partials as dp, family_style_stats, form_profile_snapshots as fps, form_style_stats,
    segment_style_stats, style_hints,
)
from stylehint_assets.synthetic import make_real_world

D = date(2025, 3, 30)


def _stat_row(table, as_of, key: dict, style, total, helpful, edit_sum, edit_count):
    return {"as_of": as_of, **key, "gen_style_id": style, "total_runs": total, "helpful": helpful,
            "unhelpful": 0, "edit_sum": edit_sum, "edit_count": edit_count, "helpful_ratio": helpful / total,
            "avg_edit_chars": edit_sum / edit_count if edit_count else None}


def _profile(host, schema, family, segment, as_of=D):
    return {"as_of": as_of, "host": host, "schema_hash": schema, "host_family": family, "segment_key": segment,
            "runs": 1, "success_rate": 1.0, "avg_edit_chars": None, "avg_duration_ms": None,
            "last_seen_at": datetime(2025, 3, 30), "canonical_map": {}, "served": True, "reject_reason": None}


# Candidate sets where each SPEC 5 tie-break decides: ratio exactly as fractions (2/6 == 1/3),
# then lower mean edit (null last, 7/3 vs 14/6 equal), then more runs, then the name.
TIE_CASES = {
    "ratio": [("b", 6, 2, 0, 0), ("a", 9, 4, 0, 0)],                       # 4/9 > 2/6
    "ratio_equal_edit": [("a", 6, 2, 30, 3), ("b", 9, 3, 20, 3)],         # 2/6 == 3/9, 20/3 < 30/3
    "edit_null_last": [("a", 6, 3, 0, 0), ("b", 8, 4, 900, 2)],            # equal ratio, a has no edit data
    "edit_equal_runs": [("a", 6, 3, 7, 3), ("b", 12, 6, 14, 6)],          # 7/3 == 14/6, more runs wins
    "name": [("b", 6, 3, 7, 3), ("a", 6, 3, 7, 3)],                        # all equal: alphabetically first
    "below_threshold": [("a", 4, 4, 0, 0), ("b", 5, 1, 0, 0)],            # a is no candidate (4 < 5)
}


def test_every_tie_break_matches_the_domain_rule(engine):
    """Each case on the form level, and its permutations: the SQL choice equals ``best_style``."""
    with engine.begin() as conn:
        for name, styles in TIE_CASES.items():
            conn.execute(insert(fps), [_profile("t.example.com", name, "other", None)])
            conn.execute(insert(form_style_stats), [
                _stat_row(form_style_stats, D, {"host": "t.example.com", "schema_hash": name, "host_family": "other"},
                          *s) for s in styles])
        build_style_hints(conn, D, 30, Thresholds())
        got = dict(conn.execute(select(style_hints.c.schema_hash, style_hints.c.preferred_style_id)
                                .where(style_hints.c.as_of == D)).all())
    for name, styles in TIE_CASES.items():
        expected = best_style([StyleStat(s, t, h, 0, e, c) for s, t, h, e, c in styles if t >= 5])
        assert got[name] == expected.gen_style_id, name
    assert got == {"ratio": "a", "ratio_equal_edit": "b", "edit_null_last": "b", "edit_equal_runs": "b",
                   "name": "a", "below_threshold": "b"}


def test_levels_fall_back_in_order_and_the_assembled_hint_agrees(engine):
    gh = {"host_family": "greenhouse"}
    with engine.begin() as conn:
        conn.execute(insert(fps), [
            _profile("a.greenhouse.io", "form", "greenhouse", "senior"),
            _profile("a.greenhouse.io", "seg", "greenhouse", "senior"),
            _profile("a.greenhouse.io", "noseg", "greenhouse", None),
            _profile("x.example.com", "other", "other", "senior"),
        ])
        conn.execute(insert(form_style_stats), [
            _stat_row(form_style_stats, D, {"host": "a.greenhouse.io", "schema_hash": "form", **gh}, "f", 5, 1, 0, 0),
            _stat_row(form_style_stats, D, {"host": "a.greenhouse.io", "schema_hash": "seg", **gh}, "f", 4, 4, 0, 0),
        ])
        conn.execute(insert(segment_style_stats), [
            _stat_row(segment_style_stats, D, {**gh, "segment_key": "senior"}, "s", 5, 2, 0, 0)])
        conn.execute(insert(family_style_stats), [_stat_row(family_style_stats, D, gh, "g", 10, 1, 0, 0)])
        build_style_hints(conn, D, 30, Thresholds())
        rows = {r.schema_hash: (r.source, r.preferred_style_id)
                for r in conn.execute(select(style_hints).where(style_hints.c.as_of == D))}
        full = assemble_hints(conn, D)
    assert rows == {"form": ("form", "f"), "seg": ("segment", "s"), "noseg": ("family", "g"), "other": ("none", None)}
    for (host, schema), hint in full.items():
        assert (hint["source"], hint["preferred_style_id"]) == rows[schema]
    assert full[("a.greenhouse.io", "seg")]["levels_tried"][0]["candidates"] == []       # 4 runs < 5
    assert full[("a.greenhouse.io", "seg")]["style_stats"] == {
        "s": {"helpful": 2, "unhelpful": 0, "total_runs": 5, "helpful_ratio": 0.4, "avg_edit_chars": None}}
    assert full[("x.example.com", "other")]["explanation"].startswith("No recommendation")


def _partial(host, schema, family, runs, ok, edit_sum=0, edit_count=0, day=D):
    return {"event_day": day, "host": host, "schema_hash": schema, "host_family": family, "segment_key": None,
            "gen_style_id": None, "runs": runs, "helpful": 0, "unhelpful": 0, "ok_runs": ok, "edit_sum": edit_sum,
            "edit_count": edit_count, "duration_sum": 0, "duration_count": 0, "last_seen_at": datetime(2025, 3, 30)}


def test_reject_reasons_are_formatted_as_python_formats_them(engine):
    """Ties at the last printed digit (1/16 = 0.0625, 1/80 = 0.0125, 0.25): SQLite's printf
    rounds them away from zero, Python to the even neighbour of the exact binary value."""
    policy = GuardPolicy(QualityGuard(0.6, 500.0), {"workday": QualityGuard(0.7, 0.1)},
                         {"jobs.lever.co": QualityGuard(0.95, 800.0)})
    cases = [("a.example.com", "s1", "other", 16, 1, 0, 0), ("a.example.com", "s2", "other", 80, 1, 0, 0),
             ("a.example.com", "s3", "other", 16, 9, 0, 0), ("a.example.com", "s4", "other", 4, 4, 2001, 4),
             ("b.wd1.myworkdayjobs.com", "w", "workday", 4, 4, 1, 4), ("jobs.lever.co", "l", "lever", 20, 18, 0, 0),
             ("c.example.com", "ok", "other", 5, 5, 10, 2)]
    with engine.begin() as conn:
        conn.execute(insert(dp), [_partial(*c) for c in cases])
        build_form_profiles(conn, D, D, D, policy)
        got = {r.schema_hash: (r.served, r.reject_reason)
               for r in conn.execute(select(fps.c.schema_hash, fps.c.served, fps.c.reject_reason))}
    for host, schema, family, runs, ok, edit_sum, edit_count in cases:
        verdict = policy.for_profile(host, family).verdict(ok / runs, edit_sum / edit_count if edit_count else None)
        assert got[schema] == (verdict is None, verdict), schema
    assert got["s1"][1] == "success_rate 0.062 < 0.6" and got["s4"][1] == "avg_edit_chars 500.2 > 500.0"


@pytest.mark.parametrize("value,digits", [(1 / 16, 3), (1 / 80, 3), (0.25, 1), (2.5, 0), (1234567.25, 1), (None, 1)])
def test_fixed_point_is_pythons_format(value, digits):
    assert fixed_point(value, digits) == (None if value is None else format(value, f".{digits}f"))


def test_retention_keeps_the_published_day_and_the_window(engine):
    days = [D - timedelta(days=k) for k in range(0, 130, 10)]
    with engine.begin() as conn:
        conn.execute(insert(fps), [_profile("a.example.com", "s", "other", None, as_of=d) for d in days])
        published = D - timedelta(days=120)
        deleted = prune_snapshots(conn, D, published, retention_days=90, lookback_days=30)
        left = {r[0] for r in conn.execute(select(fps.c.as_of))}
        assert deleted[fps.name] == sum(1 for d in days if d < D - timedelta(days=90) and d != published)
        assert set(deleted) == {t.name for t in SNAPSHOT_TABLES}
        assert left == {d for d in days if d >= D - timedelta(days=90)} | {published}
        prune_snapshots(conn, D, None, retention_days=1, lookback_days=30)   # the window is kept anyway
        assert {r[0] for r in conn.execute(select(fps.c.as_of))} == {d for d in days if d >= D - timedelta(days=29)}
    assert retention_cutoff(D, 90, 30) == D - timedelta(days=90) and retention_cutoff(D, 5, 30) == D - timedelta(days=29)


@pytest.mark.parametrize("as_of", ["2025-01-01", "2025-01-05", "2025-01-30", "2025-01-31", "2025-03-30"])
def test_window_for_is_what_the_partition_mapping_resolves(as_of):
    subset = daily_partitions.empty_subset().with_partition_keys([as_of])
    keys = lookback_window.get_upstream_mapped_partitions_result_for_partitions(
        subset, daily_partitions, daily_partitions, current_time=datetime(2026, 1, 1),
    ).partitions_subset.get_partition_keys()
    start, end = window_for(date.fromisoformat(as_of))
    assert (min(keys), max(keys)) == (start.isoformat(), end.isoformat())
    assert len(keys) == (end - start).days + 1


def test_real_shape_world_grows_with_the_events_and_is_long_tailed():
    from stylehint_assets.synthetic import generate_events

    for n in (20_000, 60_000):
        world = make_real_world(n, seed=3)
        runs = Counter((e["host"], e["schema_hash"]) for e in generate_events(n, D, days=30, seed=3, world=world))
        assert 0.08 * n <= len(runs) <= 0.12 * n                      # about one form per ten events
        assert sum(1 for r in runs.values() if r <= 5) / len(runs) > 0.6  # most forms seen 1-5 times
        assert max(runs.values()) > 1000 * n / 60_000                   # a busy head
        per_host = Counter(h for h, _ in runs)
        assert max(per_host.values()) >= 50 and sorted(per_host.values())[len(per_host) // 2] <= 2
    assert max(len(f.fields) for f in world.forms) >= 20                # some forms ask dozens of questions
    assert make_real_world(1000, seed=3) == make_real_world(1000, seed=3)
