"""A bulk rebuild of day partials leaves the planner statistics of what it wrote (PostgreSQL)."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import text

from stylehint_assets.config import Settings
from stylehint_assets.domain.records import Record
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store import aggregates, impact
from stylehint_assets.store.engine import get_engine, upgrade
from stylehint_assets.store.planner_stats import analyze_after_rebuild
from stylehint_assets.store.schema import daily_event_partials, daily_field_map_counts
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
    with engine.begin() as conn:   # one day on an analysed table: left to autovacuum
        assert analyze_after_rebuild(conn, daily_event_partials, 1) is False
        assert analyze_after_rebuild(conn, daily_event_partials, 2) is True


def test_sqlite_plans_without_statistics(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path}/learning.db")
    upgrade(engine)
    with engine.begin() as conn:
        assert analyze_after_rebuild(conn, daily_event_partials, 30) is False
