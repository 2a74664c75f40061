"""The Dagster catalog: table names, column schemas, tags and row counts from store/schema.py."""
from datetime import date

import dagster as dg
import pytest
from sqlalchemy import func, select

from stylehint_assets.assets import catalog
from resources import LearningStore
from stylehint_assets.definitions import build_definitions, defs
from stylehint_assets.runner import window_for
from stylehint_assets.store import schema

from .graph_helpers import ingest_events, snapshot

D = date(2025, 3, 31)
DAILY = {"autofill_events", "daily_event_partials", "daily_field_map_counts", "daily_impact_partials"}


def _nodes():
    graph = defs.resolve_asset_graph()
    return {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}


def test_every_asset_is_table_backed_with_the_schema_of_its_table():
    nodes = _nodes()
    assert set(nodes) == catalog.TABLE_BACKED
    for name, node in nodes.items():
        table = catalog.table_of(name)
        assert schema.metadata.tables[node.metadata["dagster/table_name"]] is table, name
        columns = node.metadata["dagster/column_schema"].columns
        assert [c.name for c in columns] == [c.name for c in table.columns], name
        for declared, column in zip(columns, table.columns):
            assert declared.constraints.nullable == bool(column.nullable), (name, column.name)
            assert declared.description == column.comment, (name, column.name)
            assert declared.type and declared.type != "string", (name, column.name)


def test_column_types_are_the_postgresql_spelling():
    columns = {c.name: c for c in catalog.column_schema(schema.autofill_events).columns}
    assert columns["event_id"].type == "varchar(128)"
    assert columns["event_id"].constraints.unique and columns["event_id"].constraints.other == ["primary key"]
    assert columns["final_map"].type == "jsonb" and columns["created_at"].type == "timestamp without time zone"
    assert columns["received_at"].description == "first receipt"
    assert not columns["host"].constraints.nullable and columns["user_id"].constraints.nullable


def test_a_name_that_differs_from_its_table_is_named_in_the_first_line():
    crossed = 0
    for name, node in _nodes().items():
        table = node.metadata["dagster/table_name"]
        if table != name:
            crossed += 1
            assert f"`{table}`" in node.description.splitlines()[0], name
    assert crossed == 2   # form_profiles -> form_profile_snapshots, served_form_profiles -> form_profiles


def test_tags_mark_personal_data_and_what_the_extension_reads():
    nodes = _nodes()
    pii = {n for n, node in nodes.items() if "pii" in node.tags}
    served = {n for n, node in nodes.items() if "served" in node.tags}
    assert pii == {n for n in nodes if {"user_id", "application_id"} & set(catalog.table_of(n).c.keys())}
    assert pii == {"autofill_events"}
    assert served == {"served_form_profiles"}


def test_code_version_follows_the_sql_building_modules():
    nodes = _nodes()
    versions = {n: node.code_version for n, node in nodes.items()}
    assert all(v and len(v) == 12 for v in versions.values())
    # the same SQL module, the same version; a different module, a different one
    assert versions["form_style_stats"] == versions["segment_style_stats"] == versions["family_style_stats"]
    assert versions["daily_event_partials"] != versions["form_style_stats"]   # the window adds the derived path
    assert versions["daily_impact_partials"] != versions["daily_event_partials"]
    assert versions["style_hints"] != versions["form_profiles"] != versions["served_form_profiles"]
    from stylehint_assets.store import aggregates, hint_choice, impact, profile_figures
    assert catalog._source_hash(aggregates) == versions["daily_event_partials"]
    assert catalog._source_hash(aggregates, impact) != catalog._source_hash(aggregates)
    # the modules that hold a snapshot's SQL are part of its version
    _, modules = catalog._TABLES["form_profiles"]
    assert profile_figures in modules and catalog._source_hash(*modules) == versions["form_profiles"]
    _, modules = catalog._TABLES["style_hints"]
    assert hint_choice in modules and catalog._source_hash(*modules) == versions["style_hints"]


def _count(engine, table, day=None):
    q = select(func.count()).select_from(table)
    if isinstance(day, tuple):
        q = q.where(table.c[catalog.day_column(table)].between(*day))
    elif day is not None:
        q = q.where(table.c[catalog.day_column(table)] == day)
    with engine.connect() as conn:
        return conn.execute(q).scalar_one()


def test_materializations_report_row_counts_of_their_tables(engine, settings):
    host = "boards.greenhouse.io"
    events = [{"event_id": f"e{day}-{i}", "host": host, "schema_hash": f"s{i % 3}",
               "created_at": f"2025-03-{day}T12:00:00Z", "gen_style_id": "narrative",
               "feedback_status": "helpful", "final_map": {"#name": "full_name", "#mail": "email"}}
              for day in (30, 31) for i in range(7)]
    ingest_events(engine, settings, events)
    with dg.instance_for_test() as instance:
        snapshot(instance, settings, D)
        seen = set()
        for name in catalog.TABLE_BACKED:
            record = instance.get_latest_materialization_event(dg.AssetKey(name))
            assert record is not None, name
            meta = record.asset_materialization.metadata
            table = catalog.table_of(name)
            assert meta["dagster/row_count"].value == _count(engine, table), name
            if name in DAILY:   # one run over the window's days: the count is for the range
                assert "dagster/partition_row_count" not in meta, name
                assert meta["partition_range_row_count"].value == _count(engine, table, window_for(D, settings))
            else:
                assert meta["dagster/partition_row_count"].value == _count(engine, table, D), name
            seen.add(name)
    assert _count(engine, schema.autofill_events) == 14
    assert _count(engine, schema.autofill_events, D) == 7
    assert _count(engine, schema.form_profiles) == 3
    assert seen == catalog.TABLE_BACKED


def test_a_one_day_run_reports_the_partition_row_count(engine, settings):
    events = [{"event_id": f"e{day}-{i}", "host": "jobs.lever.co", "schema_hash": "s", "created_at":
               f"2025-03-{day}T08:00:00Z", "final_map": {"#a": "email"}} for day in (29, 30, 31) for i in range(day - 27)]
    ingest_events(engine, settings, events)
    defs_ = build_definitions(LearningStore(database_url=settings.database_url), settings)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [a for a in defs_.assets if a.key.to_user_string() in DAILY], instance=instance,
            resources={"store": LearningStore(database_url=settings.database_url)}, partition_key="2025-03-30")
        assert result.success
        for name in DAILY:
            meta = instance.get_latest_materialization_event(dg.AssetKey(name)).asset_materialization.metadata
            table = catalog.table_of(name)
            assert meta["dagster/row_count"].value == _count(engine, table), name
            assert meta["dagster/partition_row_count"].value == _count(engine, table, date(2025, 3, 30)), name
    assert _count(engine, schema.autofill_events, date(2025, 3, 30)) == 3


@pytest.mark.postgres
def test_a_large_table_reports_the_planners_row_count_and_an_exact_partition_count(pg_database_url):
    """Above the threshold the whole table is the planner's figure (an exact count grows with the
    history kept); the partition's rows stay exact."""
    from sqlalchemy import insert, text
    from stylehint_assets.store.engine import get_engine
    from stylehint_assets.store.row_counts import row_counts

    pg_engine = get_engine(pg_database_url)
    table = schema.daily_duration_buckets
    rows = [{"event_day": date(2025, 3, 1 + i % 3), "host_family": "greenhouse", "segment_key": f"s{i}",
             "profile_used": False, "profile_source": "none", "bucket": 0, "n": 1} for i in range(30)]
    with pg_engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(insert(table), rows)
        assert row_counts(conn, table, date(2025, 3, 1), date(2025, 3, 1)) == (30, 10)   # small: counted
        conn.execute(insert(table), [r | {"segment_key": r["segment_key"] + "x"} for r in rows[:9]])
        conn.execute(text(f"ANALYZE {table.name}"))
        conn.execute(insert(table), [r | {"segment_key": r["segment_key"] + "y"} for r in rows[:3]])
        assert row_counts(conn, table, date(2025, 3, 1), date(2025, 3, 1), exact_below=0) == (39, 14)
        assert row_counts(conn, table, date(2025, 3, 1), date(2025, 3, 1)) == (42, 14)
