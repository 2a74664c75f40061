"""End to end on real services: dagster-webserver and dagster-daemon on a Dagster instance in the
local PostgreSQL (deploy/postgres/dagster.yaml), a learning store in PostgreSQL, a real
Alertmanager, and headless Chromium on the UI.

One module-scoped set of services; the steps run in order and each waits on observable state
(bounded): a backfill launched through GraphQL completes, the new-events and late-events
sensors react, a crafted KPI failure raises exactly one alert and leaves the served profiles as
they were, and the asset graph page shows the assets.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from sqlalchemy import create_engine, select, text

from stylehint_assets.assets import ASSETS as PROJECT_ASSETS
from stylehint_assets.config import Settings
from stylehint_assets.store.counters import read_counters
from stylehint_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from stylehint_assets.store.engine import get_engine, upgrade
from stylehint_assets.store.schema import alert_outbox, form_profiles, publish_state

from .conftest import PG_ADMIN_URL, _pg_available
from .e2e_services import (
    ALERTMANAGER_BIN, CHROMIUM_BIN, ROOT, alertmanager, chromium, dagster_services, free_port, have, http_json,
    wait_for,
)
from .graph_helpers import ingest_events

pytestmark = pytest.mark.e2e

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
T = NOW.date()
DAYS = [T - timedelta(days=i) for i in (3, 2, 1)]       # the backfill
GH = "boards.greenhouse.io"
SENSOR_INTERVAL = 15
ASSETS = ["autofill_events", "daily_event_partials", "daily_field_map_counts", "form_style_stats",
          "segment_style_stats", "family_style_stats", "form_profiles", "style_hints", "served_form_profiles"]

LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status numPartitions } ... on Error { message } } }"""
SCHEDULE = """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
  __typename ... on Schedule { scheduleState { id status } } ... on Error { message } } }"""
STOP_SCHEDULE = """mutation($id: String!) { stopRunningSchedule(id: $id) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on Error { message } } }"""
REPOSITORY = {"repositoryLocationName": "stylehint", "repositoryName": "__repository__"}
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def events(day, form, n, style="narrative", host=GH, hour=12, prefix="e"):
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
    return [{"event_id": f"{prefix}-{host}-{form}-{day}-{i}", "host": host, "schema_hash": form,
             "created_at": at.isoformat() + "Z", "gen_style_id": style, "feedback_status": "helpful" if i % 2 else None,
             "job": {"title": "Senior Engineer"}} for i in range(n)]


def _require(binary: str) -> None:
    if not have(binary):
        reason = f"{binary} is not installed (scripts/install-ops-tools.sh installs it)"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = _pg_available()
    if reason:
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    _require(ALERTMANAGER_BIN)
    work = tmp_path_factory.mktemp("e2e")
    suffix = uuid.uuid4().hex[:8]
    dbs = {"dagster": f"stylehint_e2e_dagster_{suffix}", "store": f"stylehint_e2e_store_{suffix}"}
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    with admin.connect() as conn:
        for name in dbs.values():
            conn.execute(text(f'CREATE DATABASE "{name}"'))   # identifiers made here, not input
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy/postgres/dagster.yaml", home / "dagster.yaml")   # the production instance config
    store_url = f"{base}/{dbs['store']}"
    ui_port = free_port()
    knobs = {
        "STYLEHINT_DATABASE_URL": store_url,
        "DAGSTER_PG_URL": f"{base}/{dbs['dagster']}",
        "STYLEHINT_UI_URL": f"http://127.0.0.1:{ui_port}",
        "STYLEHINT_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL),
        "STYLEHINT_NEW_EVENTS_THRESHOLD": "20",
        "STYLEHINT_NEW_EVENTS_MAX_AGE_MINUTES": "1440",
        "AGG_LOOKBACK_DAYS": "7",
        # no WARN noise from the product targets, so a crafted coverage drop is exactly one failed check
        "STYLEHINT_KPI_MIN_COVERAGE": "0",
        "STYLEHINT_KPI_MAX_NONE": "1",
        "STYLEHINT_KPI_SEGMENT_RANGE": "0-1",
    }
    settings = Settings.from_env(knobs)
    engine = get_engine(store_url)
    upgrade(engine)
    for i, day in enumerate(DAYS):
        ingest_events(engine, settings, [e for f in ("f1", "f2", "f3") for e in events(day, f, 6)],
                      received_at=NOW - timedelta(minutes=30 - i))
    try:
        with alertmanager(work / "alertmanager") as am_url:
            env = {**os.environ, **knobs, "STYLEHINT_ALERTMANAGER_URL": am_url, "PYTHONUNBUFFERED": "1"}
            env.pop("DAGSTER_HOME", None)
            with dagster_services(home, env, work / "dagster") as (ui_url, web_log, daemon_log):
                old = {k: os.environ.get(k) for k in ("DAGSTER_PG_URL",)}
                os.environ["DAGSTER_PG_URL"] = knobs["DAGSTER_PG_URL"]
                instance = dg.DagsterInstance.from_config(str(home))
                try:
                    yield {"ui": ui_url, "am": am_url, "engine": engine, "settings": settings, "instance": instance,
                           "work": work, "daemon_log": daemon_log, "web_log": web_log}
                finally:
                    instance.dispose()
                    for k, v in old.items():
                        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    finally:
        engine.dispose()
        get_engine.cache_clear()
        with admin.connect() as conn:
            for name in dbs.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def graphql(stack, query, **variables):
    body = http_json(stack["ui"] + "/graphql", {"query": query, "variables": variables})
    assert "errors" not in body, body["errors"]
    return body["data"]


def published(stack):
    with stack["engine"].connect() as conn:
        return conn.execute(select(publish_state.c.as_of, publish_state.c.run_id)).one()


def served(stack):
    with stack["engine"].connect() as conn:
        return sorted((r.host, r.schema_hash, str(r.as_of), r.preferred_style_id)
                      for r in conn.execute(select(form_profiles)))


def runs_by(stack, trigger):
    return stack["instance"].get_run_records(dg.RunsFilter(tags={"stylehint/trigger": trigger}), limit=50)


def stylehint_alerts(stack):
    return [a for a in http_json(stack["am"] + "/api/v2/alerts") if a["labels"].get("service") == "stylehint"]


def wait(stack, what, probe, timeout):
    return wait_for(what, probe, timeout=timeout, interval=2, log=stack["daemon_log"])


def test_the_graph_drives_itself_and_tells_on_failure(stack):
    started = time.monotonic()
    instance = stack["instance"]

    # 0. the six-hourly schedule runs by default; an operator pauses it (as in the UI) so that a
    #    tick falling inside the test cannot publish today's snapshot in the sensors' place
    schedule = graphql(stack, SCHEDULE, s={**REPOSITORY, "scheduleName": "six_hourly_hints"})["scheduleOrError"]
    assert schedule["scheduleState"]["status"] == "RUNNING", schedule
    stopped = graphql(stack, STOP_SCHEDULE, id=schedule["scheduleState"]["id"])["stopRunningSchedule"]
    assert stopped == {"__typename": "ScheduleStateResult", "scheduleState": {"status": "STOPPED"}}, stopped

    # 1. an asset backfill (every asset, the DAYS partition range) launched through the webserver's
    #    GraphQL API completes; Dagster orders its runs by the partition mappings: the daily
    #    partials of the range first (one single-run), then each day's window assets
    #    (partitionsByAssets: the asset selection with exactly the range for every asset; with
    #    assetSelection + partitionNames, Dagster also adds the window days after the range)
    day_range = {"range": {"start": DAYS[0].isoformat(), "end": DAYS[-1].isoformat()}}
    launched = graphql(stack, LAUNCH, p={
        "partitionsByAssets": [{"assetKey": {"path": key.path}, "partitions": day_range}
                               for asset in PROJECT_ASSETS for key in asset.keys],
        "fromFailure": False})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    status = wait(stack, "backfill finished", lambda: (s := graphql(stack, BACKFILL, id=backfill_id)
                  ["partitionBackfillOrError"]["status"]) in TERMINAL and s, timeout=300)
    backfill_runs = wait(stack, "backfill runs finished", lambda: (rs := instance.get_run_records(
        dg.RunsFilter(tags={"dagster/backfill": backfill_id}))) and all(r.dagster_run.is_finished for r in rs) and rs,
        timeout=120)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS")
    per_day = sorted(r.dagster_run.tags["dagster/partition"] for r in backfill_runs
                     if "dagster/partition" in r.dagster_run.tags)
    assert per_day == [d.isoformat() for d in DAYS], [dict(r.dagster_run.tags) for r in backfill_runs]
    ranges = [(r.dagster_run.tags[RANGE_START_TAG], r.dagster_run.tags[RANGE_END_TAG]) for r in backfill_runs
              if RANGE_START_TAG in r.dagster_run.tags]
    assert ranges == [(DAYS[0].isoformat(), DAYS[-1].isoformat())]
    assert {r.dagster_run.status for r in backfill_runs} == {dg.DagsterRunStatus.SUCCESS}
    wait(stack, "backfill published", lambda: published(stack).as_of == DAYS[-1], timeout=30)
    assert {(h, f) for h, f, _, _ in served(stack)} == {(GH, "f1"), (GH, "f2"), (GH, "f3")}

    # 2. new events for today: enough of them -> the new-events sensor publishes today's snapshot
    ingest_events(stack["engine"], stack["settings"], events(T, "f4", 24, hour=0), received_at=datetime.now(
        timezone.utc).replace(tzinfo=None))
    wait(stack, "new events published", lambda: published(stack).as_of == T, timeout=150)
    assert runs_by(stack, "new_events_sensor")
    assert (GH, "f4", str(T), "narrative") in served(stack)

    # 3. late events: a new form uploaded late for T-2, late feedback for T-3 merged by event_id
    late = events(DAYS[1], "late", 6, style="bullets", prefix="late")
    feedback = [{"event_id": events(DAYS[0], "f1", 6)[0]["event_id"], "host": GH, "schema_hash": "f1",
                 "feedback_status": "unhelpful"}]
    ingest_events(stack["engine"], stack["settings"], late + feedback,
                  received_at=datetime.now(timezone.utc).replace(tzinfo=None))
    wait(stack, "late events published", lambda: any(f == "late" for _, f, _, _ in served(stack)), timeout=180)
    refreshes = [r.dagster_run for r in runs_by(stack, "late_events_sensor") if r.dagster_run.job_name == "refresh_daily_partials"]
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in refreshes] == [(DAYS[0].isoformat(), DAYS[1].isoformat())]   # exactly the two late days
    snapshot_run = instance.get_run_record_by_id(published(stack).run_id).dagster_run
    assert snapshot_run.tags["stylehint/trigger"] == "late_events_sensor" and snapshot_run.tags["dagster/partition"] == str(T)
    before = served(stack)

    # 4. a crafted gate failure: 30 forms nobody can recommend for -> the covered share falls by far
    #    more than STYLEHINT_GATE_MAX_COVERAGE_DROP points (blocking covered_share_drop)
    crafted = [e for i in range(30) for e in events(T, f"x{i}", 1, style=None, host=f"careers{i}.example.com", hour=0)]
    ingest_events(stack["engine"], stack["settings"], crafted, received_at=datetime.now(timezone.utc).replace(tzinfo=None))
    alerts = wait(stack, "an alert in Alertmanager", lambda: stylehint_alerts(stack), timeout=180)
    failed = wait(stack, "the failed run", lambda: instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=5), timeout=30)
    time.sleep(2 * SENSOR_INTERVAL + 5)     # two more alert-sensor ticks: the run failure must not add an alert
    alerts = stylehint_alerts(stack)
    assert len(alerts) == 1, alerts
    labels = alerts[0]["labels"]
    assert {k: labels[k] for k in ("alertname", "asset", "check", "severity", "partition")} == {
        "alertname": "StylehintAssetCheckFailed", "asset": "style_hints", "check": "covered_share_drop",
        "severity": "error", "partition": str(T)}
    assert alerts[0]["generatorURL"] == f"{stack['ui']}/runs/{failed[0].dagster_run.run_id}"
    assert alerts[0]["annotations"]["run_id"] == failed[0].dagster_run.run_id
    assert served(stack) == before              # the blocked snapshot was not published
    with stack["engine"].connect() as conn:
        assert conn.execute(select(alert_outbox.c.dedupe_key, alert_outbox.c.sent_at)).all()[0][1] is not None
        assert len(conn.execute(select(alert_outbox.c.id)).all()) == 1
        sent = {c[1]["severity"]: c[2] for c in read_counters(conn) if c[0] == "stylehint_alerts_sent_total"}
    assert sent == {"error": 1.0}
    print(f"e2e steps took {time.monotonic() - started:.0f}s")


# The lineage of the served table upstream: the whole graph, expanded (the global lineage page
# collapses the three groups). Wide enough that the nodes show their full names.
GRAPH_PAGE = "/assets/served_form_profiles?view=lineage&lineageScope=upstream&lineageDepth=5"


def test_chromium_shows_the_asset_graph(stack):
    _require(CHROMIUM_BIN)
    graphql(stack, "mutation { setNuxSeen }")   # the one-time community dialog would cover the graph
    shot = stack["work"] / "asset-graph.png"
    dom = chromium(stack["ui"] + GRAPH_PAGE, stack["work"], screenshot=shot)
    missing = [a for a in ASSETS if a not in dom]
    assert not missing, f"asset names not in the page: {missing}"
    assert shot.stat().st_size > 10_000
    if os.environ.get("STYLEHINT_SAVE_SCREENSHOT"):
        target = ROOT / "docs/screenshots/asset-graph.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)


LOCATION = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name displayMetadata { key value } } } } }"""
COLUMNS_PAGE = "/assets/served_form_profiles"


def test_the_location_is_served_by_the_code_server_and_the_asset_page_shows_its_columns(stack):
    entries = graphql(stack, LOCATION)["workspaceOrError"]["locationEntries"]
    assert [e["name"] for e in entries] == ["stylehint"]
    shown = {m["key"]: m["value"] for m in entries[0]["displayMetadata"]}
    assert shown.get("host") == "127.0.0.1" and shown.get("port"), shown   # a gRPC origin, not a module import

    _require(CHROMIUM_BIN)
    graphql(stack, "mutation { setNuxSeen }")
    shot = stack["work"] / "asset-columns.png"
    dom = chromium(stack["ui"] + COLUMNS_PAGE, stack["work"], screenshot=shot, window="1600,2200")
    columns = [c.name for c in form_profiles.columns]
    missing = [c for c in columns if c not in dom]
    assert not missing, f"columns of form_profiles not on the asset page: {missing}"
    assert "form_profiles" in dom and shot.stat().st_size > 10_000
    if os.environ.get("STYLEHINT_SAVE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs/screenshots/asset-columns.png")
