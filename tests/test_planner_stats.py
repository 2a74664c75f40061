"""A bulk write that outgrows a table's planner statistics refreshes them (PostgreSQL)."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import text

from stylehint_assets.config import Settings
from stylehint_assets.domain.records import Record
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store import aggregates, impact
from stylehint_assets.store.engine import get_engine, upgrade
from stylehint_assets.store.planner_stats import analyze_after_write
from stylehint_assets.store.schema import daily_event_partials, daily_field_map_counts, form_profile_snapshots
from stylehint_assets.store.profile_figures import build_form_profiles
from stylehint_assets.store.snapshot_refresh import refresh_form_profiles
from stylehint_assets.synthetic import generate_events

from .conftest import _reset

D = date(2025, 3, 30)


def _reltuples(engine, table: str) -> float:
    with engine.connect() as conn:
        return conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar_one()


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()


@pytest.mark.postgres
def test_a_rebuild_of_several_days_analyzes_the_partials_it_wrote(pg_database_url):
    engine = get_engine(pg_database_url)
    _reset(engine)
    settings = Settings(database_url=pg_database_url)
    with engine.begin() as conn:   # the emptied tables, as the planner sees them
        for table in (daily_event_partials, daily_field_map_counts, form_profile_snapshots):
            conn.execute(text(f"ANALYZE {table.name}"))
    events = list(generate_events(3_000, D, days=5, seed=11))
    assert ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(events)), settings=settings,
                          received_at=datetime(2025, 4, 1)).accepted == len(events)
    with engine.begin() as conn:
        aggregates.rebuild_daily_event_partials(conn, date(2025, 3, 26), D, datetime(2025, 4, 1))
        aggregates.rebuild_daily_field_map_counts(conn, date(2025, 3, 26), D)
        impact.rebuild_daily_impact_partials(conn, date(2025, 3, 26), D)
    # ANALYZE of a table this small samples every row: reltuples is the exact count
    for table in (daily_event_partials, daily_field_map_counts):
        assert _count(engine, table) > 0
        assert _reltuples(engine, table.name) == _count(engine, table)
    with engine.begin() as conn:   # the first as-of day of the profiles, into an empty table
        refresh_form_profiles(conn, D, date(2025, 3, 1), D, settings.guard_policy, datetime(2025, 4, 1))
    assert _reltuples(engine, form_profile_snapshots.name) == _count(engine, form_profile_snapshots) > 0
    rows = _count(engine, daily_event_partials)
    with engine.begin() as conn:   # one day of many, or another as-of day: autovacuum's
        assert analyze_after_write(conn, daily_event_partials, rows // 5) is None
        assert analyze_after_write(conn, daily_event_partials, rows + 1) is None
        assert analyze_after_write(conn, daily_event_partials, 2 * rows + 1) == "table"


def test_sqlite_plans_without_statistics(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path}/learning.db")
    upgrade(engine)
    with engine.begin() as conn:
        assert analyze_after_write(conn, daily_event_partials, 10_000) is None


@pytest.mark.postgres
def test_an_as_of_day_the_statistics_do_not_know_is_sampled_once(pg_database_url):
    """The planner takes a day outside the column's common values for one row: the next as-of day
    of a snapshot table is sampled when written, and only the first time."""
    engine = get_engine(pg_database_url)
    _reset(engine)
    settings = Settings(database_url=pg_database_url)
    events = list(generate_events(2_000, D, days=5, seed=12))
    ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(events)), settings=settings,
                   received_at=datetime(2025, 4, 1))
    with engine.begin() as conn:
        aggregates.rebuild_daily_event_partials(conn, date(2025, 3, 1), D, datetime(2025, 4, 1))
        conn.execute(text("ANALYZE form_profile_snapshots"))
    paths = []
    for as_of in (D, D, date(2025, 3, 29), date(2025, 3, 29)):
        with engine.begin() as conn:
            build_form_profiles(conn, as_of, date(2025, 3, 1), as_of, settings.guard_policy)
            rows = conn.execute(text("SELECT count(*) FROM form_profile_snapshots WHERE as_of = :d"),
                                {"d": as_of}).scalar_one()
            paths.append(analyze_after_write(conn, form_profile_snapshots, rows, day=as_of))
    # the first day fills the empty table (whole table); the second is new to the planner (its column)
    assert paths == ["table", None, "as_of", None]
    with engine.connect() as conn:
        known = conn.execute(text("SELECT most_common_vals::text FROM pg_stats WHERE tablename = "
                                  "'form_profile_snapshots' AND attname = 'as_of'")).scalar_one()
    assert "2025-03-29" in known and "2025-03-30" in known
