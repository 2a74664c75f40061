"""Ingest reports the event days it changed to Dagster as runless materializations."""
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from stylehint_assets.data_arrival import EVENTS_ASSET, arrival_partitions, report_event_arrival

from .graph_helpers import ingest_events

ROOT = Path(__file__).resolve().parents[1]
GH = "boards.greenhouse.io"


def _event(i, day, **extra):
    return {"event_id": f"e{i}", "host": GH, "schema_hash": "s1", "created_at": f"{day}T09:00:00Z", **extra}


def runless(instance) -> list[tuple[str, str]]:
    """(partition, run id) of every materialization of autofill_events, oldest first."""
    records = instance.fetch_materializations(EVENTS_ASSET, limit=1000, ascending=True).records
    return [(r.partition_key, r.run_id) for r in records]


def test_changed_days_are_reported_and_unchanged_ones_are_not(engine, settings):
    with dg.instance_for_test() as instance:
        first = ingest_events(engine, settings, [_event(1, "2025-03-10"), _event(2, "2025-03-11"),
                                                 _event(3, "2025-03-11")])
        assert report_event_arrival(instance, first.days, "first.ndjson") == ["2025-03-10", "2025-03-11"]
        assert runless(instance) == [("2025-03-10", ""), ("2025-03-11", "")]
        record = instance.fetch_materializations(EVENTS_ASSET, limit=1).records[0]
        assert record.asset_materialization.metadata["source"].value == "first.ndjson"

        # the same events again change nothing; late feedback on one event and a late arrival
        # for an earlier day change exactly those two days
        again = ingest_events(engine, settings, [_event(1, "2025-03-10"), _event(2, "2025-03-11")])
        assert report_event_arrival(instance, again.days, "again") == []
        late = ingest_events(engine, settings, [_event(2, "2025-03-11", feedback_status="helpful"),
                                                _event(4, "2025-03-02")])
        assert (late.updated, late.inserted) == (1, 1)
        assert report_event_arrival(instance, late.days, "late") == ["2025-03-02", "2025-03-11"]
        assert runless(instance)[2:] == [("2025-03-02", ""), ("2025-03-11", "")]
        assert instance.get_materialized_partitions(EVENTS_ASSET) == {"2025-03-02", "2025-03-10", "2025-03-11"}


def test_days_outside_the_partitions_are_not_reported():
    inside, outside = arrival_partitions([date(2024, 12, 31), date(2025, 1, 1), date(2999, 1, 1)])
    assert inside == ["2025-01-01"] and outside == ["2024-12-31", "2999-01-01"]


@pytest.fixture
def project(tmp_path, database_url):
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "DAGSTER_", "COMPANION_"))}
    env.update(STYLEHINT_DATABASE_URL=database_url, PYTHONWARNINGS="ignore")
    return tmp_path, env


def test_stylehint_ingest_reports_its_changed_partitions(project, monkeypatch):
    cwd, env = project
    lines = [json.dumps(_event(i, f"2025-03-{10 + i % 3}")) for i in range(6)]
    (cwd / "events.ndjson").write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "stylehint_assets.cli", "ingest", "events.ndjson"], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    monkeypatch.chdir(cwd)   # the embedded instance resolves var/dagster from the project root
    with dg.DagsterInstance.from_config(str(cwd)) as instance:
        assert runless(instance) == [("2025-03-10", ""), ("2025-03-11", ""), ("2025-03-12", "")]


def test_ingest_without_an_instance_keeps_the_events_and_warns(project, tmp_path):
    cwd, env = project
    (cwd / "dagster.yaml").unlink()
    (cwd / "events.ndjson").write_text(json.dumps(_event(1, "2025-03-10")) + "\n")
    result = subprocess.run([sys.executable, "-m", "stylehint_assets.cli", "ingest", "events.ndjson", "--json"],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 1
    assert "warning: events stored, but not reported to the Dagster instance" in result.stderr
