"""A 30-partition backfill through Dagster's job API equals `materialize --as-of` for the last day."""
from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import pytest

from resources import LearningStore
from stylehint_assets.definitions import build_definitions
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.schema import form_profiles, style_hints

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
