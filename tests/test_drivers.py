"""Both PostgreSQL drivers (issue 11): every URL spelling reaches the same store through the
same paths: COPY inserts, JSON-document updates, quarantine, counters and the aggregation."""
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from stylehint_assets.config import Settings
from stylehint_assets.store.aggregates import rebuild_daily_field_map_counts
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.schema import autofill_events, daily_field_map_counts
from stylehint_assets.store.counters import read_counters

from .conftest import _reset
from .graph_helpers import ingest_events

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("scheme, driver", [("postgresql", "psycopg2"), ("postgresql+psycopg2", "psycopg2"),
                                            ("postgresql+psycopg", "psycopg")])
def test_every_postgresql_url_spelling_ingests_updates_and_aggregates(pg_database_url, scheme, driver):
    url = make_url(pg_database_url).set(drivername=scheme).render_as_string(hide_password=False)
    engine = get_engine(url)
    assert engine.dialect.driver == driver
    _reset(engine)
    settings = Settings(database_url=url)
    base = {"host": "boards.greenhouse.io", "schema_hash": "f", "created_at": "2025-03-01T10:00:00Z"}
    first = ingest_events(engine, settings, [{**base, "event_id": f"d{i}", "gen_style_id": "a",
                                              "final_map": {"#e": "email", "#n\t": "name"}} for i in range(3)])
    assert (first.inserted, first.rejected) == (3, 0)                         # COPY
    again = ingest_events(engine, settings, [{**base, "event_id": "d0", "feedback_status": "helpful"},
                                             {"host": "x.com"}])
    assert (again.updated, again.rejected) == (1, 1)                          # update document + quarantine
    with engine.connect() as conn:
        rows = conn.execute(select(autofill_events.c.event_id, autofill_events.c.feedback_status,
                                   autofill_events.c.final_map).order_by(autofill_events.c.event_id)).all()
        runs = sum(v for n, _, v in read_counters(conn) if n == "applylens_autofill_runs_total")
    assert [(r.event_id, r.feedback_status) for r in rows] == [("d0", "helpful"), ("d1", None), ("d2", None)]
    assert rows[0].final_map == {"#e": "email", "#n\t": "name"}
    assert runs == 3
    with engine.begin() as conn:                                              # INSERT … SELECT, staged
        assert rebuild_daily_field_map_counts(conn, date(2025, 3, 1), date(2025, 3, 1)) == 1
        counts = conn.execute(select(daily_field_map_counts.c.final_map, daily_field_map_counts.c.n)).all()
    assert [tuple(r) for r in counts] == [({"#e": "email", "#n\t": "name"}, 3)]
