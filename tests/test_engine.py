"""Session settings stylehint gives its PostgreSQL connections, and how an operator overrides them."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from stylehint_assets.store.engine import SESSION_DEFAULTS, get_engine, session_options


def _shown(url: str) -> tuple[str, str]:
    with get_engine(url).connect() as conn:
        return conn.execute(text("SHOW jit")).scalar(), conn.execute(text("SHOW work_mem")).scalar()


@pytest.mark.postgres
def test_sessions_run_without_jit_and_with_hash_sized_work_mem(pg_database_url):
    assert _shown(pg_database_url) == ("off", "32MB")


@pytest.mark.postgres
def test_the_urls_options_override_the_defaults(pg_database_url):
    url = pg_database_url + "?options=-c%20work_mem%3D48MB&application_name=stylehint-test-options"
    assert _shown(url) == ("off", "48MB")


def test_pgoptions_comes_after_the_defaults_and_before_the_url(monkeypatch):
    monkeypatch.setenv("PGOPTIONS", "-c jit=on")
    assert session_options("-c work_mem=8MB") == f"{SESSION_DEFAULTS} -c jit=on -c work_mem=8MB"
    monkeypatch.delenv("PGOPTIONS")
    assert session_options() == SESSION_DEFAULTS


def test_insert_select_keeps_bound_values_and_runs_twice_in_one_transaction(engine):
    from datetime import date

    from sqlalchemy import func, literal, select, type_coerce

    from stylehint_assets.store.bulk import insert_select
    from stylehint_assets.store.schema import daily_field_map_counts as fm

    hostile = "x'); DROP TABLE autofill_events; -- 100%s %(n)s"
    cols = ["event_day", "host", "schema_hash", "final_map", "n"]

    pair = func.jsonb_build_object if engine.dialect.name == "postgresql" else func.json_object

    def query(n: int):
        return select(literal(date(2025, 3, 1)), literal(hostile), literal("s1"),
                      type_coerce(pair(literal(hostile), literal(f"sem{n}")), fm.c.final_map.type), literal(n))

    with engine.begin() as conn:
        assert insert_select(conn, fm, cols, query(1)) == 1
        assert insert_select(conn, fm, cols, query(2)) == 1
    with engine.connect() as conn:
        rows = conn.execute(select(fm.c.host, fm.c.final_map, fm.c.n).order_by(fm.c.n)).all()
    assert [tuple(r) for r in rows] == [(hostile, {hostile: "sem1"}, 1), (hostile, {hostile: "sem2"}, 2)]


def test_staged_rows_read_twice_then_dropped(engine):
    from sqlalchemy import Column, Integer, String, func, literal, select, union_all

    from stylehint_assets.store.bulk import staged

    query = union_all(*(select(literal(k).label("k"), literal(n).label("n")) for k, n in (("a", 1), ("a", 2), ("b", 5))))
    with engine.begin() as conn:
        with staged(conn, "probe", select(query.subquery()), [Column("k", String), Column("n", Integer)]) as stage:
            totals = conn.execute(select(stage.c.k, func.sum(stage.c.n)).group_by(stage.c.k).order_by(stage.c.k)).all()
            biggest = conn.execute(select(func.max(stage.c.n))).scalar_one()
        assert [tuple(r) for r in totals] == [("a", 3), ("b", 5)] and biggest == 5
        with pytest.raises(Exception):
            conn.execute(select(stage.c.k)).all()   # dropped on exit
