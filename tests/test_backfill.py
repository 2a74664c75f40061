"""A 30-partition backfill through Dagster's job API equals `materialize --as-of` for the last day."""
from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import pytest

from resources import LearningStore
from stylehint_assets.definitions import build_definitions
from stylehint_assets.store.engine import get_engine
from sqlalchemy import func, select

from stylehint_assets.store.schema import (
    daily_partition_state, form_profile_snapshots, form_profiles, learning_impact, style_hints,
)

from .conftest import _reset
from .graph_helpers import ingest_events, snapshot, table_rows
from .test_asset_graph import GH, LV, runs

END = date(2025, 3, 30)
DAYS = [END - timedelta(days=29 - i) for i in range(30)]


def _events():
    out = []
    for i, day in enumerate(DAYS):
        out += runs(2, GH, "s1", "narrative" if i % 3 else "bullets", 1 + i % 2, day=day, title="Senior Dev")
        out += runs(1, LV, f"f{i % 4}", "plain", i % 2, day=day, title="Intern")
        out += runs(1, "acme.com", "careers", "narrative", 1, day=day, title=None)
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backfill_of_30_partitions_matches_materialize_as_of(database_url, settings, tmp_path):
    backfilled = get_engine(database_url)
    ingest_events(backfilled, settings, _events())
    defs = build_definitions(LearningStore(database_url=database_url), settings)
    job = defs.resolve_job_def("publish_style_hints")
    with dg.instance_for_test() as instance:
        for day in DAYS:   # one run per partition, oldest first, as a backfill launches them
            assert job.execute_in_process(partition_key=day.isoformat(), instance=instance).success
        statuses = {r.dagster_run.status for r in instance.get_run_records()}
        assert statuses == {dg.DagsterRunStatus.SUCCESS} and len(instance.get_run_records()) == 30

    other_url = f"sqlite:///{tmp_path}/direct.db"
    direct = get_engine(other_url)
    _reset(direct)
    direct_settings = replace(settings, database_url=other_url)
    ingest_events(direct, direct_settings, _events())
    with dg.instance_for_test() as instance:
        snapshot(instance, direct_settings, END)

    assert table_rows(backfilled, style_hints, END) == table_rows(direct, style_hints, END)
    assert len(table_rows(backfilled, style_hints)) > len(table_rows(backfilled, style_hints, END))  # history kept
    published = table_rows(backfilled, form_profiles, exclude=("published_at",))
    assert published == table_rows(direct, form_profiles, exclude=("published_at",))
    assert {r["as_of"] for r in published} == {END}


def _history(engine, days):
    return {d: (table_rows(engine, style_hints, d), table_rows(engine, form_profile_snapshots, d),
                table_rows(engine, learning_impact, d)) for d in days}


@pytest.mark.parametrize("database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_partitions_run_newest_first_on_a_store_without_partials_give_the_in_order_hints(database_url, settings,
                                                                                      tmp_path):
    """D, D-1, D-2 of publish_style_hints, in that order, each run reading a window whose older
    days have no partials yet: the window assets rebuild them first, so every day's hints,
    profiles and impact equal a cold in-order computation (or the run would fail, never lie)."""
    order = [END, END - timedelta(days=1), END - timedelta(days=2)]
    backfilled = get_engine(database_url)
    ingest_events(backfilled, settings, _events())
    with backfilled.connect() as conn:
        assert conn.execute(select(func.count()).select_from(daily_partition_state)).scalar_one() == 0
    job = build_definitions(LearningStore(database_url=database_url), settings).resolve_job_def("publish_style_hints")
    rebuilt = {}
    with dg.instance_for_test() as instance:
        for day in order:
            result = job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)
            assert result.success
            rebuilt[day] = any("29 day(s)" in e.user_message and "rebuilt first" in e.user_message
                               for e in instance.all_logs(result.run_id))
    # D found its 29 older days without partials; D-1 and D-2 then found them complete
    assert rebuilt == {END: True, order[1]: False, order[2]: False}

    other_url = f"sqlite:///{tmp_path}/cold.db"
    cold = get_engine(other_url)
    _reset(cold)
    cold_settings = replace(settings, database_url=other_url)
    ingest_events(cold, cold_settings, _events())
    with dg.instance_for_test() as instance:
        for day in reversed(order):
            snapshot(instance, cold_settings, day)
    got, want = _history(backfilled, order), _history(cold, order)
    for day in order:
        assert got[day][0] and got[day] == want[day], day
    assert {r["as_of"] for r in table_rows(backfilled, form_profiles)} == {END}


def test_day_ranges_group_consecutive_days():
    from stylehint_assets.window_partials import day_ranges

    d = date(2025, 3, 1)
    days = [d, d + timedelta(days=1), d + timedelta(days=2), d + timedelta(days=5), d + timedelta(days=7),
            d + timedelta(days=8)]
    assert list(day_ranges(days[::-1])) == [(d, d + timedelta(days=2)), (d + timedelta(days=5),) * 2,
                                            (d + timedelta(days=7), d + timedelta(days=8))]
    assert list(day_ranges([])) == []


def test_lagging_days_are_the_stale_days_of_the_late_events_sensor(engine, settings):
    """The window guard's cheap per-day read agrees with the sensor's per-event one: never
    built, changed after the build, and an event moved away (fewer events than recorded)."""
    from datetime import datetime

    from sqlalchemy import update

    from stylehint_assets.store.backlog import lagging_days, stale_days
    from stylehint_assets.store.schema import autofill_events
    from stylehint_assets.window_partials import ensure_window_partials

    from .sensor_helpers import rebuild_days

    ingest_events(engine, settings, _events())
    first, last = DAYS[0], DAYS[-1]
    rebuild_days(engine, first, DAYS[20], datetime(2025, 4, 30, 1))
    with engine.begin() as conn:
        conn.execute(update(autofill_events).where(autofill_events.c.event_day == DAYS[3])
                     .values(updated_at=datetime(2025, 5, 1)))
        conn.execute(update(daily_partition_state).where(daily_partition_state.c.event_day == DAYS[7])
                     .values(events=daily_partition_state.c.events + 1))
    with engine.connect() as conn:
        expected = [DAYS[3], DAYS[7], *DAYS[21:]]
        assert lagging_days(conn, first, last) == [d.day for d in stale_days(conn, first, last)] == expected
    with engine.begin() as conn:
        assert ensure_window_partials(conn, first, last, datetime(2025, 5, 2)) == expected
    with engine.connect() as conn:
        assert lagging_days(conn, first, last) == [] == stale_days(conn, first, last)
