"""Alembic revisions of the learning store: rows survive an upgrade, a step down and back up, and
a store made by ``create_all`` before Alembic is stamped, not recreated."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text

from stylehint_assets.store import migrate
from stylehint_assets.store.engine import get_engine, upgrade
from stylehint_assets.store.schema import autofill_events, metadata, publish_state, schema_info

from .test_ingest import ingest, ndjson

NEW_INDEX = "ix_autofill_events_day_updated_at"


def _event(i: int) -> dict:
    return {"event_id": f"e{i}", "host": f"h{i % 3}.example", "schema_hash": "s1",
            "created_at": f"2025-03-0{1 + i % 5}T10:00:00Z", "status": "ok", "gen_style_id": "concise",
            "feedback_status": "helpful", "final_map": {"#a": "email"}}


@pytest.fixture
def blank_url(database_url):
    """The test store emptied down to nothing: no tables, no alembic_version."""
    engine = get_engine(database_url)
    with engine.begin() as conn:
        for name in reversed(inspect(conn).get_table_names()):
            conn.execute(text(f'DROP TABLE "{name}"'))  # names from the inspector, not user input
    return database_url


def _indexes(engine) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes("autofill_events")}


def _events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(autofill_events)).scalar_one()


def test_a_baseline_store_with_events_upgrades_to_head_and_keeps_every_row(blank_url, settings):
    engine = get_engine(blank_url)
    assert migrate.upgrade(engine, migrate.BASELINE) == migrate.BASELINE
    assert NEW_INDEX not in _indexes(engine)
    with engine.begin() as conn:
        conn.execute(publish_state.insert().values(id=1))
    report = ingest(engine, settings, ndjson(*[_event(i) for i in range(40)]))
    assert report.accepted == 40

    assert upgrade(engine) == migrate.head_revision() != migrate.BASELINE
    assert NEW_INDEX in _indexes(engine)
    assert _events(engine) == 40
    assert upgrade(engine) == migrate.head_revision()   # idempotent


def test_one_step_down_and_up_again(engine):
    head = migrate.head_revision()
    assert migrate.downgrade(engine, "-1") == "0005_snapshot_basis"
    assert "selector" in {c["name"] for c in inspect(engine).get_columns("daily_field_map_counts")}
    assert migrate.downgrade(engine, "-1") == "0004_column_comments"
    assert "snapshot_basis" not in inspect(engine).get_table_names()
    assert migrate.upgrade(engine) == head
    assert "snapshot_basis" in inspect(engine).get_table_names()
    assert migrate.downgrade(engine, "0002_events_day_updated_at") == "0002_events_day_updated_at"
    assert "style_hint_settings" not in inspect(engine).get_table_names()
    assert migrate.upgrade(engine) == head
    assert "style_hint_settings" in inspect(engine).get_table_names()
    assert migrate.downgrade(engine, "0001_baseline") == migrate.BASELINE
    assert NEW_INDEX not in _indexes(engine)
    assert migrate.upgrade(engine) == head
    assert NEW_INDEX in _indexes(engine)


def test_lean_hints_revision_keeps_what_each_stored_day_was_chosen_with(blank_url):
    """0003 drops the per-profile hint JSON; the settings of every stored day survive it."""
    engine = get_engine(blank_url)
    migrate.upgrade(engine, "0002_events_day_updated_at")
    hints = text("INSERT INTO style_hints (as_of, host, schema_hash, host_family, segment_key, preferred_style_id,"
                 " source, hint) VALUES (:as_of, :host, 's1', 'other', NULL, NULL, :source, :hint)")
    tried = [{"level": "form", "min_runs": 7}, {"level": "segment", "min_runs": 3}, {"level": "family", "min_runs": 20}]
    with engine.begin() as conn:
        conn.execute(hints, [
            {"as_of": "2025-03-01", "host": "a.example", "source": "form",
             "hint": json.dumps({"ranking": "wilson", "lookback_days": 14, "levels_tried": tried[:1]})},
            {"as_of": "2025-03-01", "host": "b.example", "source": "none",
             "hint": json.dumps({"ranking": "wilson", "lookback_days": 14, "levels_tried": tried})},
            {"as_of": "2025-03-02", "host": "a.example", "source": "form",
             "hint": json.dumps({"ranking": "ratio", "lookback_days": 30, "levels_tried": tried[:1]})},
        ])
    assert upgrade(engine) == migrate.head_revision()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT as_of, ranking, lookback_days, min_form_runs, min_segment_runs,"
                                 " min_family_runs FROM style_hint_settings ORDER BY as_of")).all()
        assert [tuple(r)[1:] for r in rows] == [("wilson", 14, 7, 3, 20), ("ratio", 30, 7, 5, 10)]
        assert conn.execute(text("SELECT count(*) FROM style_hints")).scalar_one() == 3
    assert "hint" not in {c["name"] for c in inspect(engine).get_columns("style_hints")}


def _json(value) -> str:
    """A JSON column's value as canonical text (a dict from PostgreSQL, text from a raw SQLite read)."""
    return json.dumps(json.loads(value) if isinstance(value, str) else value, sort_keys=True)


def test_field_maps_revision_keeps_every_windows_counts_both_ways(blank_url):
    """0006 stores whole maps: the old per-selector rows become one-pair maps, so a window's
    canonical maps are unchanged; downgrade explodes them back into the same rows."""
    from stylehint_assets.store.profile_figures import _maps

    engine = get_engine(blank_url)
    migrate.upgrade(engine, "0005_snapshot_basis")
    old = [("2025-03-01", "a.example", "s1", "#e", "email", 3), ("2025-03-01", "a.example", "s1", "#e", "name", 1),
           ("2025-03-02", "a.example", "s1", "#e", "name", 4), ("2025-03-02", "b.example", "s2", "#q\t", "ciudad", 2)]
    rows = text("INSERT INTO daily_field_map_counts (event_day, host, schema_hash, selector, semantic, n)"
                " VALUES (:d, :h, :s, :sel, :sem, :n)")
    with engine.begin() as conn:
        conn.execute(rows, [dict(zip(("d", "h", "s", "sel", "sem", "n"), r)) for r in old])

    assert upgrade(engine) == migrate.head_revision()
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT host, final_map, n FROM daily_field_map_counts")).all()
        maps = conn.execute(select(_maps(conn, datetime(2025, 3, 1).date(), datetime(2025, 3, 2).date()))).all()
    assert sorted((h, _json(m), n) for h, m, n in stored) == sorted(
        (h, json.dumps({sel: sem}), n) for _, h, _, sel, sem, n in old)
    assert sorted((h, s, _json(m)) for h, s, m in maps) == [
        ("a.example", "s1", json.dumps({"#e": "name"})), ("b.example", "s2", json.dumps({"#q\t": "ciudad"}))]

    assert migrate.downgrade(engine, "0005_snapshot_basis") == "0005_snapshot_basis"
    with engine.connect() as conn:
        back = conn.execute(text("SELECT event_day, host, schema_hash, selector, semantic, n"
                                 " FROM daily_field_map_counts")).all()
    assert sorted((str(d), h, s, sel, sem, n) for d, h, s, sel, sem, n in back) == sorted(old)
    assert upgrade(engine) == migrate.head_revision()


def test_head_matches_schema_py_exactly(engine):
    """The autogenerate comparison: a change to schema.py without a revision fails here."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_a_store_made_by_create_all_before_alembic_is_stamped_not_recreated(blank_url, settings):
    engine = get_engine(blank_url)
    # What the release before Alembic made: the baseline schema and its marker row, no alembic_version.
    migrate.upgrade(engine, migrate.BASELINE)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(schema_info.insert().values(id=1, version=1, upgraded_at=datetime(2025, 3, 1)))
        conn.execute(publish_state.insert().values(id=1))
    ingest(engine, settings, ndjson(*[_event(i) for i in range(12)]))
    with engine.connect() as conn:
        assert migrate.is_legacy_store(conn)
        assert migrate.current_revision(conn) is None

    assert upgrade(engine) == migrate.head_revision()
    assert _events(engine) == 12          # a recreated table would have lost them
    assert NEW_INDEX in _indexes(engine)
    with engine.connect() as conn:
        assert not migrate.is_legacy_store(conn)
        assert conn.execute(select(schema_info.c.version)).scalar_one() == 1


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stylehint_assets.cli", *args], capture_output=True, text=True,
                          env={"STYLEHINT_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}, timeout=120)


def test_cli_db_current_before_and_after_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.db"
    before = _cli(url, "db", "current")
    assert before.returncode == 0, before.stderr
    assert before.stdout.strip() == "(none: empty store; stylehint db upgrade creates it)"
    up = _cli(url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"revision {migrate.head_revision()}" in up.stdout
    again = _cli(url, "db", "upgrade")
    assert again.returncode == 0 and again.stdout == up.stdout
    after = _cli(url, "db", "current")
    assert after.stdout.strip() == f"{migrate.head_revision()} (head)"
    with create_engine(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == migrate.head_revision()
