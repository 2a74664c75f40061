"""`stylehint tune` and `stylehint evaluate` on a real store (SQLite and PostgreSQL)."""
import json
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from stylehint_assets.cli import main
from stylehint_assets.domain.records import Record
from stylehint_assets.evaluation import NoSnapshot, evaluate
from stylehint_assets.store import aggregates
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.schema import autofill_events as ev, metadata
from stylehint_assets.store.snapshots import publish
from stylehint_assets.synthetic import generate_events
from stylehint_assets.whatif import NothingToCompute, compute_snapshot, tune

AS_OF = date(2025, 3, 30)
NOW = datetime(2025, 3, 31, 1, 0, 0)


@pytest.fixture
def published_store(engine, settings):
    """4,000 synthetic events over 30 days; the snapshot as of AS_OF computed and published."""
    events = generate_events(4000, AS_OF, days=30, seed=11)
    ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(events)), settings=settings, received_at=NOW)
    with engine.begin() as conn:
        aggregates.rebuild_daily_event_partials(conn, AS_OF - timedelta(days=29), AS_OF, NOW)
        aggregates.rebuild_daily_field_map_counts(conn, AS_OF - timedelta(days=29), AS_OF)
        compute_snapshot(conn, AS_OF, settings)
        assert publish(conn, AS_OF, NOW).published
    return engine


def every_row(engine) -> dict[str, list[tuple]]:
    """Every stored table, its rows in a fixed order, as Python values."""
    with engine.connect() as conn:
        return {t.name: sorted((tuple(repr(v) for v in row) for row in conn.execute(select(t))))
                for t in metadata.sorted_tables}


def test_tune_reports_the_effect_and_changes_nothing(published_store, settings):
    before = every_row(published_store)
    assert before["style_hints"] and before["form_profiles"]
    tuned = replace(settings, min_form_runs=40, min_segment_runs=30, quality_min_success=0.9, ranking="beta")
    report = tune(published_store, AS_OF, tuned)
    assert every_row(published_store) == before

    stored, what_if = report["stored"], report["tuned"]
    assert stored["coverage"]["profiles"] == what_if["coverage"]["profiles"] > 0
    assert what_if["coverage"]["form"] < stored["coverage"]["form"]       # 40 runs per style is much harder
    assert what_if["rejected"] > stored["rejected"]                        # stricter quality guard
    assert what_if["served"] + what_if["rejected"] == what_if["coverage"]["profiles"]
    changes = report["vs_published"]
    assert changes["changed"] > 0 and changes["changed"] + changes["unchanged"] == stored["coverage"]["profiles"]
    assert report["published_as_of"] == AS_OF.isoformat() and report["styles"] == 5
    assert 0.0 < what_if["off_policy"]["snips"]["value"] < 1.0

    same = tune(published_store, AS_OF, settings)   # the stored settings: nothing changes
    assert same["vs_published"]["changed"] == 0
    assert same["tuned"]["coverage"] == same["stored"]["coverage"]
    assert every_row(published_store) == before


def test_tune_needs_the_window_materialized(engine, settings):
    with pytest.raises(NothingToCompute, match="stylehint materialize --as-of 2025-03-30"):
        tune(engine, AS_OF, settings)


def test_evaluate_matches_a_per_event_computation(published_store, settings):
    with published_store.connect() as conn:
        report = evaluate(conn, AS_OF, settings)
        explore = conn.execute(select(ev.c.host, ev.c.schema_hash, ev.c.gen_style_id, ev.c.feedback_status)
                               .where(ev.c.policy == "explore", ev.c.gen_style_id.is_not(None),
                                      ev.c.event_day.between(AS_OF - timedelta(days=29), AS_OF))).all()
        stored = {(r["host"], r["schema_hash"]): r["preferred_style_id"] for r in
                  conn.execute(select(metadata.tables["style_hints"]).where(
                      metadata.tables["style_hints"].c.as_of == AS_OF)).mappings()}
    assert set(report["rankings"]) == {"ratio", "wilson", "beta", "empirical_bayes", "bayes_ucb"} and report["styles"] == 5
    ratio = report["rankings"]["ratio"]   # the stored snapshot was computed with ratio
    covered = [e for e in explore if stored.get((e.host, e.schema_hash))]
    matched = [e for e in covered if e.gen_style_id == stored[(e.host, e.schema_hash)]]
    helpful = sum(e.feedback_status == "helpful" for e in matched)
    assert ratio["explore_runs"] == len(explore) and ratio["covered_runs"] == len(covered)
    assert ratio["ips"]["value"] == pytest.approx(5 * helpful / len(covered), abs=1e-6)
    assert ratio["snips"]["value"] == pytest.approx(helpful / len(matched), abs=1e-6)
    for name, value in report["rankings"].items():
        assert value["ips"]["low"] <= value["ips"]["value"] <= value["ips"]["high"], name
    served = report["served"]
    assert served["all"]["n"] == served["exploit"]["n"] + served["fallback"]["n"]
    with published_store.connect() as conn, pytest.raises(NoSnapshot, match="no snapshot as of 2025-03-29"):
        evaluate(conn, AS_OF - timedelta(days=1), settings)


def test_cli_evaluate_and_tune(published_store, database_url, monkeypatch, capsys):
    monkeypatch.setenv("STYLEHINT_DATABASE_URL", database_url)
    assert main(["evaluate", "--as-of", AS_OF.isoformat(), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["window"] == ["2025-03-01", "2025-03-30"]
    assert main(["tune", "--as-of", AS_OF.isoformat(), "--min-form-runs", "40", "--ranking", "beta"]) == 0
    out = capsys.readouterr().out
    assert "what-if snapshot as of 2025-03-30 (nothing stored or published)" in out
    assert "hints vs the published snapshot (2025-03-30):" in out and "IPS helpful rate" in out
    assert main(["tune", "--as-of", "2025-02-01"]) == 1
    assert "run `stylehint materialize --as-of 2025-02-01` first" in capsys.readouterr().err
