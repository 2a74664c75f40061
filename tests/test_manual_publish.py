"""``stylehint publish --as-of D``: the way back to a stored snapshot that passed its checks."""
from __future__ import annotations

import os
from datetime import date

import dagster as dg
from sqlalchemy import func, select

from stylehint_assets.domain.counters import MANUAL_PUBLISHES, PROFILES_UPDATED
from stylehint_assets.store.counters import read_counters
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.reads import published_as_of
from stylehint_assets.store.schema import form_profiles

from .sensor_helpers import FakeAlertmanager
from .test_cli import events_file, project, run  # noqa: F401 - the project fixture

# Served days get a form-level hint; the misconfiguration of issue 11 then leaves none, which the
# blocking gate stops (covered_share_drop, some_recommendation).
GATE_OPEN = {"MIN_FORM_RUNS": "1"}
GATE_SHUT = {"MIN_FORM_RUNS": "10000", "MIN_SEGMENT_RUNS": "10000", "MIN_FAMILY_RUNS": "100000"}


def _counter(url: str, name: str) -> float:
    with get_engine(url).connect() as conn:
        return sum(v for n, _, v in read_counters(conn) if n == name)


def _state(url: str):
    with get_engine(url).connect() as conn:
        served = conn.execute(select(form_profiles.c.as_of, func.count()).group_by(form_profiles.c.as_of)).all()
        return published_as_of(conn)[0], served


def test_publish_rolls_back_to_a_checked_snapshot_and_refuses_the_rest(project, tmp_path):
    url = project[1]["STYLEHINT_DATABASE_URL"]
    assert run(project, "ingest", str(events_file(tmp_path / "events.ndjson"))).returncode == 0
    for day in ("2025-03-10", "2025-03-11"):
        assert run(project, "materialize", "--as-of", day, env_extra=GATE_OPEN).returncode == 0
    failed = run(project, "materialize", "--as-of", "2025-03-12", env_extra=GATE_SHUT)   # newer: the gate compares
    assert failed.returncode == 1 and "covered_share_drop" in failed.stderr
    assert failed.stderr.count("\n") == 1 and "Stack Trace" not in failed.stderr   # one line, no traceback
    assert _state(url) == (date(2025, 3, 11), [(date(2025, 3, 11), 1)])
    updated_before = _counter(url, PROFILES_UPDATED)

    with FakeAlertmanager().running() as alertmanager:
        done = run(project, "publish", "--as-of", "2025-03-10", env_extra={"STYLEHINT_ALERTMANAGER_URL": alertmanager.url})
        assert done.returncode == 0, done.stderr
        assert "published the snapshot as of 2025-03-10 by hand (was 2025-03-11): 1 profiles, 1 served; alert sent" \
            in done.stdout
        (alert,) = alertmanager.alerts
        assert alert["labels"]["alertname"] == "StylehintManualPublish" and alert["labels"]["partition"] == "2025-03-10"
        assert "(was 2025-03-11)" in alert["annotations"]["summary"]

        refused = run(project, "publish", "--as-of", "2025-03-12", env_extra={"STYLEHINT_ALERTMANAGER_URL": alertmanager.url})
        missing = run(project, "publish", "--as-of", "2025-03-05")
        assert len(alertmanager.alerts) == 1   # refusals publish nothing and alert nothing

    assert _state(url) == (date(2025, 3, 10), [(date(2025, 3, 10), 1)])
    assert _counter(url, MANUAL_PUBLISHES) == 1 and _counter(url, PROFILES_UPDATED) == updated_before + 1
    assert "covered_share_drop failed" in refused.stderr
    for result, reason in ((refused, "did not pass its blocking checks ("),
                           (missing, "no snapshot as of 2025-03-05 in the learning store")):
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert reason in result.stderr and "nothing was published" in result.stderr
        assert "materialize --as-of 20" in result.stderr
    assert _state(url)[0] == date(2025, 3, 10)

    os.environ["DAGSTER_HOME"], previous = str(project[0]), os.environ.get("DAGSTER_HOME")
    cwd = os.getcwd()
    try:
        os.chdir(project[0])
        with dg.DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey("served_form_profiles"))
            record = event.asset_materialization
            assert record.partition == "2025-03-10" and record.metadata["manual"].value is True
    finally:
        os.chdir(cwd)
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous


def test_publish_of_a_day_outside_the_partitions_is_one_sentence(project):
    result = run(project, "publish", "--as-of", "2099-01-01")
    assert result.returncode == 1 and "2099-01-01 is after today" in result.stderr
