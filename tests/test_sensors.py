"""The new-events and late-events sensors, every branch, on crafted store states (SQLite and PostgreSQL)."""
from dataclasses import replace
from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from stylehint_assets.clock import utcnow
from sensors.late_events import day_ranges
from sensors.new_events import plan_new_events
from stylehint_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from stylehint_assets.store.backlog import DayBacklog, stale_days

from .graph_helpers import ingest_events
from .sensor_helpers import mark_published, rebuild_days, tick
from .test_asset_graph import GH, ev, runs

P = date(2025, 3, 31)
UNREACHABLE = "postgresql+psycopg2://nobody@127.0.0.1:1/none"   # any touch of the store would raise


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def published(engine, settings):
    """Days P-2..P aggregated and the snapshot as of P published, an hour ago."""
    now = utcnow()
    ingest_events(engine, settings, [*runs(3, GH, "a", "x", 2, day=P - timedelta(days=2)), *runs(3, GH, "a", "x", 2, day=P)],
                  received_at=now - timedelta(hours=3))
    rebuild_days(engine, P - timedelta(days=29), P, now - timedelta(hours=2))
    mark_published(engine, P, now - timedelta(hours=1))
    return now


@pytest.mark.parametrize("name", ["new_events_sensor", "late_events_sensor", "failure_alerts_sensor"])
def test_disabled_aggregation_skips_every_sensor_touching_nothing(name, settings, instance):
    off = replace(settings, agg_enabled=False, alertmanager_url="http://127.0.0.1:1")
    result = tick(name, off, instance, cursor='{"watermark": null}', store_url=UNREACHABLE)
    assert not result.run_requests and "COMPANION_AUTOFILL_AGG_ENABLED=0" in result.skip_message
    assert result.cursor == '{"watermark": null}'   # the cursor is not moved


@pytest.mark.parametrize("name", ["new_events_sensor", "late_events_sensor"])
def test_nothing_published_yet_skips(name, engine, settings, instance):
    ingest_events(engine, settings, runs(3, GH, "a", "x", 2))
    result = tick(name, settings, instance)
    assert not result.run_requests and "nothing published yet" in result.skip_message


def test_new_events_nothing_new(published, settings, instance):
    result = tick("new_events_sensor", settings, instance)
    assert not result.run_requests and "no unprocessed events" in result.skip_message


def test_new_events_below_threshold_and_young_wait(published, engine, settings, instance):
    ingest_events(engine, settings, runs(3, GH, "b", "x", 1, day=P + timedelta(days=1)), received_at=utcnow())
    result = tick("new_events_sensor", replace(settings, new_events_threshold=10), instance)
    assert not result.run_requests and "3 new events (< 10)" in result.skip_message


def test_new_events_over_threshold_request_the_days_once(published, engine, settings, instance):
    s = replace(settings, new_events_threshold=4)
    day = P + timedelta(days=1)
    ingest_events(engine, s, [*runs(3, GH, "b", "x", 1, day=day), ev("p", GH, "c", "y", day=P)], received_at=utcnow())
    first = tick("new_events_sensor", s, instance)
    assert [r.partition_key for r in first.run_requests] == [P.isoformat(), day.isoformat()]
    assert all(r.run_key.startswith("new_events:") and r.job_name in (None, "publish_style_hints")
               for r in first.run_requests)
    assert all(r.tags["stylehint/trigger"] == "new_events_sensor" for r in first.run_requests)
    # the same state again: nothing new since the cursor, and young -> no second request
    again = tick("new_events_sensor", s, instance, cursor=first.cursor)
    assert not again.run_requests and "0 new events" in again.skip_message
    # without the cursor (e.g. a reset) the run keys are the same, so Dagster would not launch twice
    reset = tick("new_events_sensor", s, instance)
    assert [r.run_key for r in reset.run_requests] == [r.run_key for r in first.run_requests]
    # once the days are aggregated, nothing is pending
    rebuild_days(engine, P, day, utcnow())
    assert "no unprocessed events" in tick("new_events_sensor", s, instance, cursor=first.cursor).skip_message


def test_new_events_old_enough_are_requested_below_threshold(published, engine, settings, instance):
    ingest_events(engine, settings, [ev("late-ish", GH, "b", "x", day=P)], received_at=utcnow() - timedelta(minutes=90))
    result = tick("new_events_sensor", replace(settings, new_events_max_age_minutes=60), instance)
    assert [r.partition_key for r in result.run_requests] == [P.isoformat()]


def test_late_events_nothing_late(published, settings, instance):
    result = tick("late_events_sensor", settings, instance)
    assert not result.run_requests and "no late events" in result.skip_message


def test_late_events_rebuild_exactly_those_days_then_the_published_snapshot(published, engine, settings, instance):
    late = [P - timedelta(days=5), P - timedelta(days=4), P - timedelta(days=2)]
    ingest_events(engine, settings, [ev(f"late-{d}", GH, "late", "x", day=d) for d in late]
                  + [ev("a-new-outside", GH, "old", "x", day=P - timedelta(days=40))], received_at=utcnow())
    first = tick("late_events_sensor", settings, instance)
    ranges = sorted((r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in first.run_requests)
    assert ranges == [(str(late[0]), str(late[1])), (str(late[2]), str(late[2]))]   # not P-40: outside the window
    assert {r.job_name for r in first.run_requests} == {"refresh_daily_partials"}
    assert [r.run_key for r in tick("late_events_sensor", settings, instance).run_requests] == \
        [r.run_key for r in first.run_requests]   # same state, same keys: no duplicate runs

    rebuild_days(engine, late[0], late[-1], utcnow())   # what those runs do
    second = tick("late_events_sensor", settings, instance)
    assert [(r.job_name, r.partition_key) for r in second.run_requests] == [("publish_style_hints", P.isoformat())]
    assert second.run_requests[0].run_key.startswith(f"late_snapshot:{P}:")

    mark_published(engine, P, utcnow() + timedelta(seconds=1))   # the snapshot run published P again
    assert "no late events" in tick("late_events_sensor", settings, instance).skip_message


def test_feedback_merged_later_is_late(published, engine, settings, instance):
    eid = runs(3, GH, "a", "x", 2, day=P - timedelta(days=2))[2]["event_id"]
    ingest_events(engine, settings, [{"event_id": eid, "host": GH, "schema_hash": "a", "feedback_status": "helpful"}],
                  received_at=utcnow())
    result = tick("late_events_sensor", settings, instance)
    day = str(P - timedelta(days=2))
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in result.run_requests] == [(day, day)]


def test_a_merge_that_moves_an_event_leaves_its_old_day_stale(published, engine, settings):
    eid = runs(3, GH, "a", "x", 2, day=P - timedelta(days=2))[0]["event_id"]
    ingest_events(engine, settings, [{"event_id": eid, "host": GH, "schema_hash": "a",
                                      "created_at": f"{P - timedelta(days=3)}T08:00:00Z"}], received_at=utcnow())
    with engine.connect() as conn:
        stale = {d.day: d for d in stale_days(conn, P - timedelta(days=9), P)}
    assert set(stale) == {P - timedelta(days=3), P - timedelta(days=2)}
    assert stale[P - timedelta(days=2)].pending == 1 and stale[P - timedelta(days=2)].oldest_change is None


def test_plan_and_ranges_are_pure():
    now = datetime(2025, 4, 1, 12)
    d = DayBacklog(date(2025, 4, 1), 5, 5, now - timedelta(minutes=5), now, pending_since=5)
    assert plan_new_events([], None, now, 1, 60).days == []
    assert plan_new_events([d], None, now, 5, 60).reason == "5 new events >= threshold 5"
    assert plan_new_events([d], None, now, 6, 5).reason.startswith("oldest unprocessed event waited 5 min")
    assert plan_new_events([d], None, now, 6, 6).days == []
    days = [DayBacklog(date(2025, 3, x), 1, 1, None, None) for x in (1, 2, 3, 5, 7, 8)]
    assert [[b.day.day for b in r] for r in day_ranges(days)] == [[1, 2, 3], [5], [7, 8]]


@pytest.mark.parametrize("job_name", ["refresh_daily_partials", "__ASSET_JOB"])
@pytest.mark.parametrize("name", ["new_events_sensor", "late_events_sensor"])
def test_aggregation_sensors_wait_while_aggregation_runs_are_in_flight(name, job_name, published, engine, settings,
                                                                       instance):
    """A job run or an asset backfill's run (Dagster's implicit asset job) reads the same days."""
    ingest_events(engine, settings, [ev(f"x{i}", GH, "b", "x", day=P - timedelta(days=i % 3)) for i in range(6)],
                  received_at=utcnow() - timedelta(hours=5))
    from resources import LearningStore
    from stylehint_assets.definitions import build_definitions
    job = build_definitions(LearningStore(database_url=settings.database_url), settings).resolve_job_def(job_name)
    run = instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
    waiting = tick(name, settings, instance)
    assert not waiting.run_requests and "waiting: 1+ aggregation run(s) queued or running" in waiting.skip_message
    instance.report_run_canceled(run)   # (a STARTED run stands in for a queued one: same rule)
    assert tick(name, settings, instance).run_requests   # once the queue is clear, the backlog is requested


def test_code_location_has_the_sensors_at_the_configured_interval():
    from resources import LearningStore
    from stylehint_assets.config import Settings
    from stylehint_assets.definitions import build_definitions
    defs = build_definitions(LearningStore(database_url="sqlite://"), Settings(sensor_interval_seconds=15))
    sensors = {s.name: s for s in defs.sensors if s.name in ("new_events_sensor", "late_events_sensor",
                                                             "failure_alerts_sensor")}
    assert len(sensors) == 3
    assert {s.minimum_interval_seconds for s in sensors.values()} == {15}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING and s.description for s in sensors.values())


@pytest.mark.parametrize("env, name", [
    ({"STYLEHINT_SENSOR_INTERVAL_SECONDS": "5"}, "STYLEHINT_SENSOR_INTERVAL_SECONDS"),
    ({"STYLEHINT_NEW_EVENTS_THRESHOLD": "0"}, "STYLEHINT_NEW_EVENTS_THRESHOLD"),
    ({"STYLEHINT_FRESHNESS_MAX_LAG_HOURS": "often"}, "STYLEHINT_FRESHNESS_MAX_LAG_HOURS"),
    ({"STYLEHINT_ALERTMANAGER_URL": "alertmanager:9093"}, "STYLEHINT_ALERTMANAGER_URL"),
    ({"STYLEHINT_ALERTMANAGER_URL": "http://user:" + "secret@am:9093"}, "STYLEHINT_ALERTMANAGER_URL"),
    ({"STYLEHINT_ALERT_ACTIVE_MINUTES": "1"}, "STYLEHINT_ALERT_ACTIVE_MINUTES"),
])
def test_invalid_sensor_and_alert_knobs_fail_naming_the_variable(env, name):
    from stylehint_assets.config import ConfigError, Settings
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)
