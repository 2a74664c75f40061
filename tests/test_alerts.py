"""The failure-alerts sensor against real failed runs in a Dagster instance and a fake Alertmanager."""
import time
from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import pytest
from sqlalchemy import select

from resources import LearningStore
from stylehint_assets.definitions import build_definitions
from stylehint_assets.runner import RunFailed
from stylehint_assets.store.counters import read_counters
from stylehint_assets.store.schema import alert_outbox

from .graph_helpers import ingest_events, served, snapshot
from .sensor_helpers import FakeAlertmanager, record_sensor_ticks, tick
from .test_asset_graph import GH, ev, runs

D = date(2025, 3, 31)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def am():
    fake = FakeAlertmanager()
    with fake.running():
        yield fake


def sent_counter(engine):
    with engine.connect() as conn:
        return {c[1].get("severity"): c[2] for c in read_counters(conn) if c[0] == "stylehint_alerts_sent_total"}


def gate_failure(engine, settings, instance):
    """A published snapshot, then a day whose covered share falls from 100 % to 25 %: the run fails
    on the blocking covered_share_drop check, and on nothing else."""
    ingest_events(engine, settings, runs(6, GH, "k", "a", 3))
    snapshot(instance, settings, D)
    ingest_events(engine, settings, [ev(i, "acme.com", f"new{i}", "a", day=D + timedelta(days=1)) for i in range(3)])
    with pytest.raises(RunFailed, match=r"failed: covered_share_drop;"):
        snapshot(instance, settings, D + timedelta(days=1))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_gate_check_raises_exactly_one_alert_and_the_run_failure_is_covered(engine, settings, instance, am):
    s = replace(settings, alertmanager_url=am.url, ui_url="http://dagster.example:3000")
    first = tick("failure_alerts_sensor", s, instance)   # no failures yet
    assert "0 new failure(s)" in first.skip_message and am.alerts == []
    gate_failure(engine, settings, instance)
    before = served(engine)

    result = tick("failure_alerts_sensor", s, instance, cursor=first.cursor)
    assert "1 new failure(s) queued, 1 run failure(s) covered" in result.skip_message
    assert len(am.alerts) == 1
    alert = am.alerts[0]
    assert alert["labels"] == {"alertname": "StylehintAssetCheckFailed", "service": "stylehint", "asset": "style_hints",
                               "check": "covered_share_drop", "severity": "error", "partition": str(D + timedelta(days=1))}
    run_id = alert["annotations"]["run_id"]
    assert alert["generatorURL"] == f"http://dagster.example:3000/runs/{run_id}" == alert["annotations"]["run_url"]
    assert instance.get_run_record_by_id(run_id).dagster_run.status == dg.DagsterRunStatus.FAILURE
    assert alert["startsAt"].endswith("Z") and alert["endsAt"] > alert["startsAt"]
    assert sent_counter(engine) == {"error": 1}
    assert served(engine) == before            # the blocked snapshot was not published

    # next ticks, with or without the cursor (a reset), send nothing again: the outbox knows the evaluation
    assert "0 new failure(s)" in tick("failure_alerts_sensor", s, instance, cursor=result.cursor).skip_message
    tick("failure_alerts_sensor", s, instance, cursor=None)
    assert len(am.alerts) == 1 and sent_counter(engine) == {"error": 1}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_alertmanager_down_keeps_the_alert_for_the_next_tick(engine, settings, instance, am):
    s = replace(settings, alertmanager_url=am.url)
    cursor = tick("failure_alerts_sensor", s, instance).cursor
    gate_failure(engine, settings, instance)
    am.down = True
    down = tick("failure_alerts_sensor", s, instance, cursor=cursor)
    assert "0 alert(s) sent, 1 waiting" in down.skip_message and "HTTP 503" in down.skip_message
    with engine.connect() as conn:
        row = conn.execute(select(alert_outbox)).mappings().one()
    assert row["sent_at"] is None and row["attempts"] == 1 and "503" in row["last_error"]
    assert am.alerts == [] and sent_counter(engine) == {}

    am.down = False
    up = tick("failure_alerts_sensor", s, instance, cursor=down.cursor)
    assert "0 new failure(s) queued" in up.skip_message and "1 alert(s) sent" in up.skip_message
    assert [a["labels"]["check"] for a in am.alerts] == ["covered_share_drop"] and sent_counter(engine) == {"error": 1}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_that_fails_for_another_reason_is_alerted(engine, settings, instance, am, tmp_path):
    s = replace(settings, alertmanager_url=am.url)
    cursor = tick("failure_alerts_sensor", s, instance).cursor
    broken = LearningStore(database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none")
    job = build_definitions(broken, settings).resolve_job_def("refresh_daily_partials")
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": "2025-03-01", "dagster/asset_partition_range_end": "2025-03-02"})
    assert not result.success
    tick("failure_alerts_sensor", s, instance, cursor=cursor)
    assert len(am.alerts) == 1
    labels = am.alerts[0]["labels"]
    assert labels["alertname"] == "StylehintRunFailed" and labels["job"] == "refresh_daily_partials"
    assert labels["partition"] == "2025-03-01...2025-03-02" and labels["severity"] == "error"
    assert "autofill_events" in labels["asset"]


def test_no_alertmanager_url_skips_with_a_reason(settings, instance):
    result = tick("failure_alerts_sensor", replace(settings, alertmanager_url=""), instance)
    assert "STYLEHINT_ALERTMANAGER_URL is empty" in result.skip_message


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_check_of_another_asset_alerts_once(engine, settings, instance, am):
    """impact_intervals_consistent (on learning_impact, WARN) alerts like the style_hints checks."""
    s = replace(settings, alertmanager_url=am.url)
    cursor = tick("failure_alerts_sensor", s, instance).cursor
    check = dg.AssetCheckSpec("impact_intervals_consistent", asset="learning_impact")

    @dg.asset(name="learning_impact", check_specs=[check])
    def inconsistent_impact():   # stands in for learning_impact: a real run with a real failed evaluation
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(
            check_name="impact_intervals_consistent", passed=False, severity=dg.AssetCheckSeverity.WARN,
            description="1 row(s) with an estimate outside its interval")])

    assert dg.materialize([inconsistent_impact], instance=instance).success
    result = tick("failure_alerts_sensor", s, instance, cursor=cursor)
    assert "1 new failure(s) queued" in result.skip_message
    [alert] = am.alerts
    assert {k: alert["labels"][k] for k in ("alertname", "asset", "check", "severity")} == {
        "alertname": "StylehintAssetCheckFailed", "asset": "learning_impact", "check": "impact_intervals_consistent",
        "severity": "warning"}
    assert alert["annotations"]["runbook_url"] == "docs/alerts.md#stylehintassetcheckfailed"
    tick("failure_alerts_sensor", s, instance, cursor=result.cursor)
    assert len(am.alerts) == 1 and sent_counter(engine) == {"warning": 1}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_failing_sensor_ticks_alert_once_per_failure_streak(engine, settings, instance, am):
    s = replace(settings, alertmanager_url=am.url)
    start = time.time() - 3600
    record_sensor_ticks(instance, "late_events_sensor", ["SUCCESS", "FAILURE", "FAILURE", "FAILURE"], start)
    cursor = tick("failure_alerts_sensor", s, instance).cursor
    [alert] = am.alerts
    assert alert["labels"] == {"alertname": "StylehintSensorFailing", "service": "stylehint",
                               "sensor": "late_events_sensor", "severity": "error"}
    assert "3 failed tick(s) in a row" in alert["annotations"]["description"]
    assert "store unreachable (3)" in alert["annotations"]["description"]     # the newest error

    # the streak goes on: no new alert; it ends (a skipped tick) and a new one starts: one more
    record_sensor_ticks(instance, "late_events_sensor", ["FAILURE"], start + 300)
    cursor = tick("failure_alerts_sensor", s, instance, cursor=cursor).cursor
    assert len(am.alerts) == 1
    record_sensor_ticks(instance, "late_events_sensor", ["SKIPPED", "FAILURE"], start + 360)
    record_sensor_ticks(instance, "new_events_sensor", ["SUCCESS", "SKIPPED"], start)     # healthy: silent
    tick("failure_alerts_sensor", s, instance, cursor=cursor)
    assert [a["labels"]["sensor"] for a in am.alerts] == ["late_events_sensor"] * 2
    assert am.alerts[1]["startsAt"] > am.alerts[0]["startsAt"]
    assert sent_counter(engine) == {"error": 2}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_alerts_sent_total_is_exported_by_the_metrics_collector(engine, settings, instance, am):
    from .metrics_helpers import exposition, samples, value

    before = samples(exposition(engine, settings))
    assert value(before, "stylehint_alerts_sent_total", severity="error") == 0       # exported at 0
    assert value(before, "stylehint_alerts_sent_total", severity="warning") == 0
    record_sensor_ticks(instance, "new_events_sensor", ["FAILURE"], time.time() - 60)
    tick("failure_alerts_sensor", replace(settings, alertmanager_url=am.url), instance)
    after = samples(exposition(engine, settings))
    assert value(after, "stylehint_alerts_sent_total", severity="error") == 1
