"""SPEC 3 for the incremental path: a snapshot derived from the day before's (or after's) equals a
cold recompute of the same day, every snapshot table and column, on both backends."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from stylehint_assets.domain.records import Record
from stylehint_assets.ingest import ingest_records
from stylehint_assets.partitions import window_for
from stylehint_assets.store import aggregates
from stylehint_assets.store.hint_choice import build_style_hints
from stylehint_assets.store.profile_figures import build_form_profiles
from stylehint_assets.store.schema import (
    family_style_stats, form_profile_snapshots, form_style_stats, segment_style_stats, style_hint_settings, style_hints,
)
from stylehint_assets.store.snapshot_refresh import refresh_form_profiles, refresh_style_hints, refresh_style_stats
from stylehint_assets.synthetic import generate_events, make_real_world

from .graph_helpers import table_rows

D = date(2025, 3, 30)
NOW = datetime(2025, 4, 2)
TABLES = (form_style_stats, segment_style_stats, family_style_stats, form_profile_snapshots, style_hints,
          style_hint_settings)
LEVELS = ("form", "segment", "family")


@pytest.fixture
def world_store(engine, settings):
    """6,000 real-shape events over the 30 days ending D, and 400 more on D+1 from the same world;
    a form seen on the first day only, another on D+1 only."""
    world = make_real_world(6_000, seed=3)
    events = [*generate_events(6_000, D, days=30, seed=3, world=world),
              *generate_events(400, D + timedelta(days=1), days=1, seed=4, world=world)]
    events += [events[-1] | {"event_id": f"new-form-{i}", "schema_hash": "brand-new-form"} for i in range(6)]
    events += [events[0] | {"event_id": f"gone-form-{i}", "schema_hash": "gone-with-the-first-day"} for i in range(6)]
    report = ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(events)), settings=settings,
                           received_at=datetime(2025, 4, 1))
    assert report.accepted == len(events)
    _partials(engine, D - timedelta(days=29), D + timedelta(days=1), NOW)
    return engine


def _partials(engine, start, end, now):
    with engine.begin() as conn:
        aggregates.rebuild_daily_event_partials(conn, start, end, now)
        aggregates.rebuild_daily_field_map_counts(conn, start, end)


def _refresh(engine, settings, as_of, now=NOW) -> dict[str, str]:
    """The window assets as of ``as_of`` as the six-hourly run builds them; their paths."""
    start, end = window_for(as_of)
    paths = {}
    with engine.begin() as conn:
        for level in LEVELS:
            paths[level] = refresh_style_stats(conn, level, as_of, start, end, now)[1]
        paths["profiles"] = refresh_form_profiles(conn, as_of, start, end, settings.guard_policy, now)[1]
        refresh_style_hints(conn, as_of, 30, settings.thresholds, settings.ranking)
    return paths


def _cold(engine, settings, as_of):
    start, end = window_for(as_of)
    with engine.begin() as conn:
        for level in LEVELS:
            aggregates.rebuild_style_stats(conn, level, as_of, start, end)
        build_form_profiles(conn, as_of, start, end, settings.guard_policy)
        build_style_hints(conn, as_of, 30, settings.thresholds, settings.ranking)


def _rows(engine, as_of):
    return {t.name: table_rows(engine, t, as_of) for t in TABLES}


def _assert_equals_cold(engine, settings, as_of):
    derived = _rows(engine, as_of)
    _cold(engine, settings, as_of)
    cold = _rows(engine, as_of)
    for name in cold:
        assert len(derived[name]) == len(cold[name]), name
        assert derived[name] == cold[name], name


def test_the_next_day_derived_from_the_day_before_equals_a_cold_recompute(world_store, settings):
    first = _refresh(world_store, settings, D)
    assert all(p.startswith("cold") for p in first.values()), first
    paths = _refresh(world_store, settings, D + timedelta(days=1))
    assert all(p.startswith(f"incremental from {D}") for p in paths.values()), paths
    before = {(r["host"], r["schema_hash"]) for r in table_rows(world_store, form_profile_snapshots, D)}
    after = {(r["host"], r["schema_hash"]) for r in table_rows(world_store, form_profile_snapshots, D + timedelta(days=1))}
    assert before - after, "no form left"
    assert after - before, "no form came"   # forms left with the first day, others came with the new one
    _assert_equals_cold(world_store, settings, D + timedelta(days=1))


def test_a_day_rebuilt_after_the_base_falls_back_to_cold_and_stays_exact(world_store, settings):
    _refresh(world_store, settings, D)
    late = D - timedelta(days=5)
    with world_store.begin() as conn:   # a late event inside both windows: its day's partials are rebuilt
        row = conn.execute(form_profile_snapshots.select().where(form_profile_snapshots.c.as_of == D)).mappings().first()
    event = next(generate_events(1, late, days=1, seed=99, world=make_real_world(6_000, seed=3)))
    event |= {"event_id": "late-1"}
    ingest_records(world_store, [Record(0, "", value=event)], settings=settings, received_at=datetime(2025, 4, 1, 6))
    _partials(world_store, late, late, NOW + timedelta(hours=1))
    paths = _refresh(world_store, settings, D + timedelta(days=1), NOW + timedelta(hours=2))
    assert all(p.startswith("cold") for p in paths.values()), paths
    assert "rebuilt since" in paths["form"]
    assert row is not None
    _assert_equals_cold(world_store, settings, D + timedelta(days=1))


def test_a_backfill_newest_first_derives_the_day_before_from_the_day_after(world_store, settings):
    _refresh(world_store, settings, D + timedelta(days=1))
    paths = _refresh(world_store, settings, D)
    assert paths["profiles"].startswith(f"incremental from {D + timedelta(days=1)}"), paths
    _assert_equals_cold(world_store, settings, D)


def test_a_repeated_six_hourly_run_derives_from_the_day_before_again(world_store, settings):
    """Runs of the same partition later in the day: the new day's partials are rebuilt each time,
    the base (the day before) is not, so each run derives from it."""
    _refresh(world_store, settings, D)
    _refresh(world_store, settings, D + timedelta(days=1))
    extra = next(generate_events(1, D + timedelta(days=1), days=1, seed=77, world=make_real_world(6_000, seed=3)))
    ingest_records(world_store, [Record(0, "", value=extra | {"event_id": "later-1"})], settings=settings,
                   received_at=datetime(2025, 4, 1, 12))
    _partials(world_store, D + timedelta(days=1), D + timedelta(days=1), NOW + timedelta(hours=6))
    paths = _refresh(world_store, settings, D + timedelta(days=1), NOW + timedelta(hours=6))
    assert all(p.startswith(f"incremental from {D}") for p in paths.values()), paths
    _assert_equals_cold(world_store, settings, D + timedelta(days=1))


@pytest.mark.parametrize("ranking", ["wilson", "beta"])
def test_other_rankings_over_derived_stats_stay_exact(world_store, settings, ranking):
    settings = replace(settings, ranking=ranking)
    _refresh(world_store, settings, D)
    paths = _refresh(world_store, settings, D + timedelta(days=1))
    assert paths["profiles"].startswith("incremental"), paths
    _assert_equals_cold(world_store, settings, D + timedelta(days=1))


def test_other_thresholds_keep_the_derived_stats_and_stay_exact(world_store, settings):
    _refresh(world_store, settings, D)
    stricter = replace(settings, min_form_runs=7)
    paths = _refresh(world_store, stricter, D + timedelta(days=1))
    assert paths["form"].startswith("incremental"), paths
    _assert_equals_cold(world_store, stricter, D + timedelta(days=1))


def _mapped(key: str, schema: str, day: date, final_map: dict) -> dict:
    return {"event_id": f"{schema}-{day}-{key}", "host": "boards.greenhouse.io", "schema_hash": schema,
            "created_at": f"{day}T12:00:00Z", "gen_style_id": "a", "final_map": final_map}


def test_canonical_maps_derived_from_the_day_before_follow_every_overturned_winner(engine, settings):
    """Each way the day entering and the day leaving can change a selector's winner (or keep it,
    tie it, add or drop a selector), on the derived path, checked against the expected maps and a
    cold recompute: the guard for any narrowing of what the derived path recomputes."""
    first, mid, new = D - timedelta(days=29), D - timedelta(days=10), D + timedelta(days=1)
    runs = {   # schema: [(day, count, final_map)]
        "flip-leaving": [(first, 3, {"#a": "x"}), (mid, 2, {"#a": "y"})],
        "flip-entering": [(mid, 2, {"#a": "x"}), (mid, 1, {"#a": "y"}), (new, 2, {"#a": "y"})],
        "tie-entering": [(mid, 1, {"#a": "beta"}), (new, 1, {"#a": "alpha"})],
        "winner-gains": [(mid, 2, {"#a": "x"}), (mid, 1, {"#a": "y"}), (new, 1, {"#a": "x", "#new": "z"})],
        "selector-gone": [(first, 1, {"#gone": "q"}), (mid, 1, {"#a": "x"})],
        "rival-loses": [(first, 1, {"#a": "x"}), (mid, 3, {"#a": "y"}), (mid, 1, {"#a": "x"})],
        "untouched": [(mid, 1, {"#a": "x"})],
    }
    events = [_mapped(f"{k}-{n}", schema, day, m) for schema, rows in runs.items()
              for k, (day, count, m) in enumerate(rows) for n in range(count)]
    report = ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(events)), settings=settings,
                            received_at=datetime(2025, 4, 1))
    assert report.accepted == len(events)
    _partials(engine, first, new, NOW)
    _refresh(engine, settings, D)
    paths = _refresh(engine, settings, new)
    assert paths["profiles"].startswith(f"incremental from {D}"), paths
    maps = {r["schema_hash"]: r["canonical_map"] for r in table_rows(engine, form_profile_snapshots, new)}
    assert maps == {
        "flip-leaving": {"#a": "y"}, "flip-entering": {"#a": "y"}, "tie-entering": {"#a": "alpha"},
        "winner-gains": {"#a": "x", "#new": "z"}, "selector-gone": {"#a": "x"}, "rival-loses": {"#a": "y"},
        "untouched": {"#a": "x"},
    }
    before = {r["schema_hash"]: r["canonical_map"] for r in table_rows(engine, form_profile_snapshots, D)}
    assert before["flip-leaving"] == {"#a": "x"} and before["tie-entering"] == {"#a": "beta"}
    _assert_equals_cold(engine, settings, new)
