"""The exporter over the durable counters (SPEC 7): exposition, restarts and re-ingests, bounded
host labels, agg-run counting. On SQLite and PostgreSQL."""
from __future__ import annotations

import io
import math
import json
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest
from sqlalchemy import select

from resources import LearningStore
from sensors.agg_runs import agg_run_err_counter, agg_run_ok_counter
from stylehint_assets.config import Settings
from stylehint_assets.domain.records import read_records
from stylehint_assets.metrics.collector import host_labels, known_series
from stylehint_assets.store.engine import get_engine
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.schema import publish_state, style_hints

from .graph_helpers import snapshot
from .metrics_helpers import exposition, label_values, samples, value

D = date(2025, 3, 31)
GH = {"host": "boards.greenhouse.io", "schema_hash": "g1", "created_at": "2025-03-30T10:00:00Z"}


def ndjson(events) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def ingest(engine, settings, data: bytes, received_at=datetime(2025, 3, 31, 12)):
    return ingest_records(engine, read_records(io.BytesIO(data)), settings=settings, received_at=received_at)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_every_spec_metric_is_exported_at_zero_before_any_work(engine, settings):
    parsed = samples(exposition(engine, settings), impact=True)
    names = {n for n, _ in parsed}
    for name in ("applylens_autofill_style_choice_total", "applylens_autofill_agg_runs_total",
                 "applylens_autofill_agg_last_success_timestamp_seconds", "applylens_autofill_profiles_updated_total",
                 "applylens_autofill_profiles_rejected_total", "applylens_autofill_runs_total",
                 "applylens_autofill_edit_chars_total", "applylens_autofill_time_ms_bucket",
                 "applylens_autofill_time_ms_count", "applylens_autofill_time_ms_sum",
                 "applylens_autofill_policy_total", "applylens_autofill_profile_usage_total"):
        assert name in names, name
    impact = {k: v for k, v in parsed.items() if k[0].startswith("applylens_autofill_impact_")}
    assert all(v == 0 for k, v in parsed.items() if k not in impact)
    assert len(impact) == 188 and all(v == 0 or math.isnan(v) for v in impact.values())   # no partition yet
    assert label_values(parsed, "applylens_autofill_agg_runs_total", "status") == {"ok", "err"}
    choice = {dict(ls)["source"] for (n, ls) in parsed if n == "applylens_autofill_style_choice_total"}
    assert choice == {"form", "segment", "family", "none"}
    # no invented label sets: segment-level choices need an ATS family and a segment
    assert not [ls for (n, ls) in parsed if n == "applylens_autofill_style_choice_total"
                and dict(ls)["source"] == "segment" and (dict(ls)["host_family"] == "other" or not dict(ls)["segment_key"])]
    # form-fill times: 100 ms to 2 min
    assert label_values(parsed, "applylens_autofill_time_ms_bucket", "le") == {
        "100", "250", "500", "1000", "2500", "5000", "10000", "20000", "30000", "60000", "120000", "+Inf"}


def test_exposition_carries_the_stored_totals(engine, settings, instance):
    events = [dict(GH, event_id=f"a{i}", gen_style_id="s1", duration_ms=ms, edit_chars=10 * i, status=st,
                   policy="exploit", profile_used=True, profile_source="merged", job={"title": "Senior Engineer"})
              for i, (ms, st) in enumerate([(90, "ok"), (400, "ok"), (3000, "ok"), (45000, "error"), (200000, "ok"),
                                            (700, "ok")])]
    events.append({"event_id": "x1", "host": "careers.example.org", "schema_hash": "o1",
                   "created_at": "2025-03-30T11:00:00Z", "duration_ms": 1200, "status": "cancelled"})
    ingest(engine, settings, ndjson(events))
    snapshot(instance, settings, D)
    parsed = samples(exposition(engine, settings))

    assert value(parsed, "applylens_autofill_runs_total", host="greenhouse.io", status="ok") == 5
    assert value(parsed, "applylens_autofill_runs_total", host="greenhouse.io", status="error") == 1
    assert value(parsed, "applylens_autofill_runs_total", host="other", status="cancelled") == 1
    assert value(parsed, "applylens_autofill_edit_chars_total", host="greenhouse.io") == 150
    bucket = {dict(ls)["le"]: v for (n, ls), v in parsed.items()
              if n == "applylens_autofill_time_ms_bucket" and dict(ls)["host"] == "greenhouse.io"}
    le = {float(k): v for k, v in bucket.items()}
    assert (le[100], le[250], le[500], le[1000], le[2500], le[5000], le[60000], le[120000], le[float("inf")]) == \
        (1, 1, 2, 3, 3, 4, 5, 5, 6)
    assert value(parsed, "applylens_autofill_time_ms_count", host="greenhouse.io") == 6
    assert value(parsed, "applylens_autofill_time_ms_sum", host="greenhouse.io") == 90 + 400 + 3000 + 45000 + 200000 + 700
    assert value(parsed, "applylens_autofill_policy_total", policy="exploit", host_family="greenhouse",
                 segment_key="senior") == 6
    assert value(parsed, "applylens_autofill_profile_usage_total", profile_used="true", profile_source="merged") == 6

    with engine.connect() as conn:
        hints = conn.execute(select(style_hints.c.source, style_hints.c.host_family, style_hints.c.segment_key)
                             .where(style_hints.c.as_of == D)).all()
        published_at = conn.execute(select(publish_state.c.published_at)).scalar_one()
    assert sorted(hints) == [("form", "greenhouse", "senior"), ("none", "other", None)]
    assert value(parsed, "applylens_autofill_style_choice_total", source="form", host_family="greenhouse",
                 segment_key="senior") == 1
    assert value(parsed, "applylens_autofill_style_choice_total", source="none", host_family="other",
                 segment_key="") == 1
    assert value(parsed, "applylens_autofill_style_choice_total") == 2
    # the greenhouse form: success 5/6 and mean edit 25 -> served; the other form: 0/1 ok -> rejected
    assert value(parsed, "applylens_autofill_profiles_updated_total") == 1
    assert value(parsed, "applylens_autofill_profiles_rejected_total") == 1
    stamp = value(parsed, "applylens_autofill_agg_last_success_timestamp_seconds")
    assert stamp == pytest.approx(published_at.replace(tzinfo=timezone.utc).timestamp())


def test_restart_and_reingest_never_lower_or_double_a_counter(database_url, settings, instance):
    engine = get_engine(database_url)
    data = ndjson([dict(GH, event_id=f"r{i}", gen_style_id="s1", duration_ms=1000 + i, edit_chars=i,
                        policy="explore") for i in range(8)] + [dict(GH, gen_style_id="s2")] * 2)
    ingest(engine, settings, data)
    snapshot(instance, settings, D)
    before = samples(exposition(engine, settings))
    assert value(before, "applylens_autofill_runs_total") == 10

    get_engine.cache_clear()          # a restarted exporter: new engine, new collector, same store
    engine.dispose()
    engine = get_engine(database_url)
    assert samples(exposition(engine, settings)) == before

    report = ingest(engine, settings, data, received_at=datetime(2025, 4, 1))   # the same file again
    assert report.inserted == 0 and report.unchanged == 10
    assert samples(exposition(engine, settings)) == before

    # a retry that changes values: counted fields stay, a first-filled one moves once
    ingest(engine, settings, ndjson([dict(GH, event_id="r0", duration_ms=99999, status="error",
                                          feedback_status="helpful", profile_used=False)]))
    after = samples(exposition(engine, settings))
    assert value(after, "applylens_autofill_time_ms_count") == value(before, "applylens_autofill_time_ms_count") == 8
    assert value(after, "applylens_autofill_runs_total", status="error") == 0
    assert value(after, "applylens_autofill_profile_usage_total", profile_used="false") == 1
    assert all(after[k] >= v for k, v in before.items() if not k[0].endswith("timestamp_seconds"))


def test_ten_thousand_unknown_hosts_give_bounded_host_series(engine, database_url):
    settings = Settings(database_url=database_url, metrics_hosts=("jobs.example.com",))
    events = [{"host": f"h{i}.unknown{i % 97}.example", "schema_hash": "s", "created_at": "2025-03-30T00:00:00Z",
               "duration_ms": i, "edit_chars": 1} for i in range(10_000)]
    events += [{"host": h, "schema_hash": "s", "created_at": "2025-03-30T00:00:00Z", "duration_ms": 5}
               for h in ("jobs.example.com", "acme.wd5.myworkdayjobs.com", "jobs.lever.co", "notgreenhouse.io")]
    assert ingest(engine, settings, ndjson(events)).inserted == 10_004
    parsed = samples(exposition(engine, settings))
    hosts = set()
    for name in ("applylens_autofill_runs_total", "applylens_autofill_edit_chars_total",
                 "applylens_autofill_time_ms_bucket"):
        hosts |= label_values(parsed, name, "host")
    assert hosts == set(host_labels(settings))
    assert len(hosts) == 1 + len(settings.families) + len(settings.metrics_hosts) == 7
    assert value(parsed, "applylens_autofill_runs_total", host="other") == 10_001       # + notgreenhouse.io
    assert value(parsed, "applylens_autofill_runs_total", host="jobs.example.com") == 1
    assert value(parsed, "applylens_autofill_runs_total", host="myworkdayjobs.com") == 1
    assert value(parsed, "applylens_autofill_time_ms_count", host="other") == 10_001
    counted = ("applylens_autofill_", "stylehint_alerts_")
    series = sum(1 for (n, _) in parsed if n.startswith(counted))
    # known series, 12 buckets per host label and per (profile_used, profile_source), and the gauge
    known = [s for s in known_series(settings) if s[0].startswith(counted)]
    assert series == len(known) + 12 * (len(hosts) + 2 * 5) + 1


def _runs(instance, status):
    return [r for r in instance.get_runs(filters=dg.RunsFilter(statuses=[status]))]


def _event(instance, run, event_type):
    [entry] = instance.all_logs(run.run_id, of_type=event_type)
    return entry.dagster_event


def test_agg_run_sensors_count_each_run_once_by_status(engine, settings, instance):
    ingest(engine, settings, ndjson([dict(GH, event_id=f"k{i}", gen_style_id="s1") for i in range(6)]))
    snapshot(instance, settings, D)
    strict = Settings(database_url=settings.database_url, min_form_runs=10000, min_segment_runs=10000,
                      min_family_runs=100000)   # nothing recommended: the gate blocks
    ingest(engine, settings, ndjson([{"host": "x.example", "schema_hash": "n", "created_at": "2025-03-31T00:00:00Z"}]))
    with pytest.raises(Exception, match="blocking asset check"):
        snapshot(instance, strict, D)
    ok, failed = _runs(instance, dg.DagsterRunStatus.SUCCESS), _runs(instance, dg.DagsterRunStatus.FAILURE)
    assert (len(ok), len(failed)) == (3, 1)      # partials, snapshot, partials again; then the blocked snapshot

    store = LearningStore(database_url=settings.database_url)
    resources = {"store": store, "settings": settings}
    for _ in range(2):                           # the sensor sees every run twice: counted once
        for run in ok:
            ctx = dg.build_run_status_sensor_context("agg_run_ok_counter", _event(instance, run, dg.DagsterEventType.RUN_SUCCESS),
                                                     instance, run, resources=resources)
            agg_run_ok_counter(ctx)
        for run in failed:
            ctx = dg.build_run_status_sensor_context("agg_run_err_counter", _event(instance, run, dg.DagsterEventType.RUN_FAILURE),
                                                     instance, run, resources=resources).for_run_failure()
            agg_run_err_counter(ctx)
    parsed = samples(exposition(engine, settings))
    assert value(parsed, "applylens_autofill_agg_runs_total", status="ok") == 3
    assert value(parsed, "applylens_autofill_agg_runs_total", status="err") == 1
    # the blocked publish changed nothing it counts
    assert value(parsed, "applylens_autofill_style_choice_total") == 1


def test_outcomes_with_and_without_a_profile(engine, settings):
    with_profile = dict(GH, profile_used=True, profile_source="server_only")
    ingest(engine, settings, ndjson([
        dict(with_profile, event_id="p1", status="ok", duration_ms=900, edit_chars=10),
        dict(with_profile, event_id="p2", status="error", duration_ms=3000),
        dict(GH, event_id="n1", profile_used=False, status="ok", duration_ms=40000, edit_chars=300),
        dict(GH, event_id="late", status="ok", duration_ms=2000, edit_chars=50),      # profile_used comes later
    ]))
    before = samples(exposition(engine, settings))
    assert value(before, "applylens_autofill_profile_runs_total") == 3
    ingest(engine, settings, ndjson([{"event_id": "late", "host": GH["host"], "schema_hash": "g1",
                                      "profile_used": False, "edit_chars": 70, "duration_ms": 1}]))
    parsed = samples(exposition(engine, settings))
    runs = {k: v for k, v in parsed.items() if k[0] == "applylens_autofill_profile_runs_total" and v}
    assert runs == {
        ("applylens_autofill_profile_runs_total", (("profile_source", "server_only"), ("profile_used", "true"), ("status", "ok"))): 1,
        ("applylens_autofill_profile_runs_total", (("profile_source", "server_only"), ("profile_used", "true"), ("status", "error"))): 1,
        ("applylens_autofill_profile_runs_total", (("profile_source", ""), ("profile_used", "false"), ("status", "ok"))): 2,
    }
    # the late run joins "without" with the figures stored when profile_used arrived (the retry's edit 70, 1 ms)
    assert value(parsed, "applylens_autofill_profile_edit_chars_total", profile_used="false") == 370
    assert value(parsed, "applylens_autofill_profile_edited_runs_total", profile_used="false") == 2
    assert value(parsed, "applylens_autofill_profile_edit_chars_total", profile_used="true") == 10
    assert value(parsed, "applylens_autofill_profile_edited_runs_total", profile_used="true") == 1
    assert value(parsed, "applylens_autofill_profile_time_seconds_count", profile_used="true") == 2
    assert value(parsed, "applylens_autofill_profile_time_seconds_sum", profile_used="false") == pytest.approx(40 + 0.001)
    assert value(parsed, "applylens_autofill_profile_time_seconds_bucket", profile_used="false", le="2.5") == 1
    assert value(parsed, "applylens_autofill_profile_time_seconds_bucket", profile_used="false", le="60.0") == 2
    # the host-level series counted the late run when it was first stored, and never again
    assert value(parsed, "applylens_autofill_edit_chars_total") == 10 + 300 + 50
    assert value(parsed, "applylens_autofill_time_ms_sum") == 900 + 3000 + 40000 + 2000


def test_impact_gauges_come_from_the_newest_learning_impact_partition(engine, settings):
    from stylehint_assets.store.impact import rebuild_daily_impact_partials, rebuild_learning_impact

    with_profile = dict(GH, profile_used=True, profile_source="server_only")
    ingest(engine, settings, ndjson([
        dict(with_profile, event_id="p1", status="ok", duration_ms=900, edit_chars=10),
        dict(with_profile, event_id="p2", status="error", duration_ms=3000, edit_chars=30),
        dict(GH, event_id="n1", profile_used=False, status="ok", duration_ms=40000, edit_chars=300),
    ]))
    day = date(2025, 3, 30)                                   # the events' day
    with engine.begin() as conn:
        rebuild_daily_impact_partials(conn, day, day)
        rebuild_learning_impact(conn, day - timedelta(days=1), day, day, min_runs=1)   # an older partition
        rebuild_learning_impact(conn, day, day, day, min_runs=1)
    parsed = samples(exposition(engine, settings), impact=True)
    assert value(parsed, "applylens_autofill_impact_as_of_timestamp_seconds") == \
        datetime(2025, 3, 30, tzinfo=timezone.utc).timestamp()
    assert value(parsed, "applylens_autofill_impact_success_ratio", profile_used="true", profile_source="all") == 0.5
    assert value(parsed, "applylens_autofill_impact_success_ratio", profile_used="true", profile_source="server_only") == 0.5
    assert value(parsed, "applylens_autofill_impact_success_ratio", profile_used="false", profile_source="all") == 1.0
    assert value(parsed, "applylens_autofill_impact_runs", profile_used="true", profile_source="all") == 2
    assert value(parsed, "applylens_autofill_impact_edit_chars_mean", profile_used="true", profile_source="all") == 20
    assert value(parsed, "applylens_autofill_impact_difference", metric="success_ratio", profile_source="all") == -0.5
    assert math.isnan(value(parsed, "applylens_autofill_impact_success_ratio", profile_used="true",
                            profile_source="merged"))


def test_serve_binds_loopback_by_default_and_sensors_are_registered():
    from stylehint_assets.cli import build_parser
    from stylehint_assets.definitions import defs

    args = build_parser().parse_args(["metrics", "serve"])
    assert (args.host, args.port) == ("127.0.0.1", 9108)
    for name in ("agg_run_ok_counter", "agg_run_err_counter"):
        sensor = defs.resolve_sensor_def(name) if hasattr(defs, "resolve_sensor_def") else defs.get_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    from sensors.agg_runs import AGGREGATION_JOBS as AGG_JOBS
    assert {j.name for j in AGG_JOBS} == {"publish_style_hints", "refresh_daily_partials"}
