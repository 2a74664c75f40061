"""End to end (SPEC 7): a real Prometheus scrapes ``stylehint metrics serve`` on loopback while
events are ingested and two snapshots are published through Dagster; every SPEC 7 query, every
dashboard panel and every rule is then evaluated by Prometheus itself.

Exactness of rate()/increase(): every series is exported at 0 before its first increment, and
all queries are evaluated at the timestamp of the last scrape. Prometheus' extrapolation then
adds nothing on either side (the first sample is 0, so it does not extrapolate before it; the
last sample is at the evaluation time), so ``increase(x[w])`` equals the counter's value and
``rate(x[w]) * w`` too, as long as the whole test fits in the shortest window (5m).
"""
from __future__ import annotations

import io
import json
import math
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest
from sqlalchemy import select

from resources import LearningStore
from sensors.agg_runs import agg_run_err_counter, agg_run_ok_counter
from stylehint_assets.config import Settings
from stylehint_assets.domain.counters import TIME_MS_BUCKETS
from stylehint_assets.domain.records import read_records
from stylehint_assets.metrics.push import PUSH_JOB, grouping_key, push_run_series
from stylehint_assets.runner import RunFailed
from stylehint_assets.store.engine import get_engine
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.schema import publish_state, style_hints

from .conftest import _reset
from .graph_helpers import snapshot
from .metrics_helpers import samples, value
from .ops_queries import DASHBOARD_DIR, as_promql, dashboard_queries, rule_files
from .prometheus_helpers import (
    binary, by_labels, free_port, http_get, query, start_exporter, start_prometheus, start_pushgateway,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

D1, D2 = date(2025, 3, 30), date(2025, 3, 31)
# The bounded host label each test host is exported under (SPEC 7; docs/metrics.md).
HOST_LABEL = {"boards.greenhouse.io": "greenhouse.io", "jobs.lever.co": "lever.co", "careers.acme.example": "other",
              "acme.wd5.myworkdayjobs.com": "myworkdayjobs.com", "x.bamboohr.com": "bamboohr.com"}


def _events(prefix, host, schema, n, day, style=None, title=None, statuses=("ok",), durations=(), edits=()):
    out = []
    for i in range(n):
        e = {"event_id": f"{prefix}{i}", "host": host, "schema_hash": schema, "created_at": f"{day}T10:{i:02d}:00Z",
             "status": statuses[i % len(statuses)], "policy": "exploit", "profile_used": True,
             "profile_source": "server_only"}
        if style:
            e["gen_style_id"] = style
        if title:
            e["job"] = {"title": title}
        if durations:
            e["duration_ms"] = durations[i % len(durations)]
        if edits:
            e["edit_chars"] = edits[i % len(edits)]
        out.append(e)
    return out


# Batch 1 (event days up to D1). As of D1, what SPEC 5 gives each profile:
#   A  greenhouse form with 6 runs of s1, senior      -> form     (greenhouse, senior)
#   B  greenhouse form with 2 runs of s1, senior      -> segment  (greenhouse, senior: 8 runs of s1)
#   C  lever form, 1 run of s2, no title              -> family   (lever, "": 11 runs of s2)
#   Dl lever form with 10 runs of s2, default         -> form     (lever, default)
#   E  unknown host, 3 runs, 2 of them errors         -> none     (other, intern); rejected (success 1/3)
#   F  workday form without a style                   -> none     (workday, "")
BATCH1 = [
    *_events("a", "boards.greenhouse.io", "gA", 6, "2025-03-29", "s1", "Senior Engineer",
             durations=(800, 1200, 3000, 4000, 9000, 15000), edits=(10, 20)),
    *_events("b", "boards.greenhouse.io", "gB", 2, "2025-03-30", "s1", "Sr. Developer", durations=(2000, 70000)),
    *_events("c", "jobs.lever.co", "lC", 1, "2025-03-30", "s2", durations=(30000,), edits=(400,)),
    *_events("d", "jobs.lever.co", "lD", 10, "2025-03-29", "s2", "Software Engineer",
             durations=(300, 600, 700, 900, 1500, 2600, 5200, 11000, 25000, 130000), edits=(5,)),
    *_events("e", "careers.acme.example", "eE", 3, "2025-03-30", "s1", "Summer Intern",
             statuses=("error", "ok", "error"), durations=(50, 150)),
    *_events("f", "acme.wd5.myworkdayjobs.com", "wF", 2, "2025-03-30", durations=(20000,)),
]
# Batch 2 (event day D2), and late feedback for one run of A. As of D2 also:
#   G  greenhouse form, 1 run of s1, senior           -> segment  (greenhouse, senior: 9 runs)
#   H  bamboohr form without a style, junior, error   -> none     (bamboohr, junior); rejected
BATCH2 = [
    *_events("g", "boards.greenhouse.io", "gG", 1, "2025-03-31", "s1", "Senior Designer", durations=(61000,)),
    *_events("h", "x.bamboohr.com", "bH", 1, "2025-03-31", title="Junior Analyst", statuses=("error",),
             durations=(400,), edits=(7,)),
    {"event_id": "a0", "host": "boards.greenhouse.io", "schema_hash": "gA", "feedback_status": "helpful"},
]
SNAPSHOT1 = {("form", "greenhouse", "senior"): 1, ("segment", "greenhouse", "senior"): 1, ("family", "lever", ""): 1,
             ("form", "lever", "default"): 1, ("none", "other", "intern"): 1, ("none", "workday", ""): 1}
SNAPSHOT2 = {**SNAPSHOT1, ("segment", "greenhouse", "senior"): 2, ("none", "bamboohr", "junior"): 1}
SERVED = {D1: 5, D2: 6}          # all but E; all but E and H
REJECTED = {D1: 1, D2: 2}


def ndjson(events) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def ingest(engine, settings, data: bytes, received_at):
    return ingest_records(engine, read_records(io.BytesIO(data)), settings=settings, received_at=received_at)


def expected_quantile(q: float, durations: list[int]) -> float:
    """histogram_quantile over the exported buckets, computed from the events' durations."""
    bounds = [*map(float, TIME_MS_BUCKETS), math.inf]
    counts = [sum(1 for d in durations if d <= b) for b in bounds]
    rank = q * counts[-1]
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    start, below = (0.0, 0) if b == 0 else (bounds[b - 1], counts[b - 1])
    return start + (bounds[b] - start) * (rank - below) / (counts[b] - below)


def count_runs(instance, store, settings) -> Counter:
    """Evaluate the agg-run sensors for every finished run (twice: a re-seen run counts once)."""
    resources = {"store": store, "settings": settings}
    outcomes = Counter()
    for _ in range(2):
        for run in instance.get_runs():
            if run.status == dg.DagsterRunStatus.SUCCESS:
                [entry] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
                agg_run_ok_counter(dg.build_run_status_sensor_context(
                    "agg_run_ok_counter", entry.dagster_event, instance, run, resources=resources))
                outcomes["ok"] += 1
            elif run.status == dg.DagsterRunStatus.FAILURE:
                [entry] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
                agg_run_err_counter(dg.build_run_status_sensor_context(
                    "agg_run_err_counter", entry.dagster_event, instance, run, resources=resources).for_run_failure())
                outcomes["err"] += 1
    return Counter({k: v // 2 for k, v in outcomes.items()})


@pytest.fixture
def store_url(pg_database_url):
    _reset(get_engine(pg_database_url))
    return pg_database_url


def test_prometheus_sees_every_spec_query_dashboard_panel_and_rule(store_url, tmp_path):
    started = time.monotonic()
    binary("prometheus")
    engine = get_engine(store_url)
    settings = Settings(database_url=store_url, kpi_min_coverage=0.0, kpi_max_none=1.0, kpi_segment_range=(0.0, 1.0))
    exporter_port = free_port()
    exporter = start_exporter(store_url, exporter_port, tmp_path / "exporter.log")
    rules = rule_files()
    prometheus, base = start_prometheus(tmp_path, [f"127.0.0.1:{exporter_port}"], rules)
    try:
        # Two scrapes of the untouched store first: every known series starts at 0.
        wait_for(lambda: query(base, 'count_over_time(applylens_autofill_agg_runs_total{status="err"}[1m]) >= 2'),
                 30, "two scrapes before any work")
        assert query(base, "sum(applylens_autofill_runs_total) + sum(applylens_autofill_style_choice_total)")[0]["value"][1] == "0"

        with dg.instance_for_test() as instance:
            file1 = ndjson(BATCH1)
            assert ingest(engine, settings, file1, datetime(2025, 3, 30, 23)).inserted == len(BATCH1)
            snapshot(instance, settings, D1)

            # Restart the exporter between the snapshots: Prometheus must see no counter reset.
            assert exporter.stop() == 0        # SIGTERM: a clean exit
            time.sleep(1.5)
            exporter = start_exporter(store_url, exporter_port, tmp_path / "exporter.log")

            again = ingest(engine, settings, file1, datetime(2025, 3, 31, 23))     # the same file again
            assert (again.inserted, again.updated) == (0, 0)
            assert ingest(engine, settings, ndjson(BATCH2), datetime(2025, 3, 31, 23)).inserted == 2
            snapshot(instance, settings, D2)
            # A failed aggregation run: the misconfiguration the gate stops, on the next day, so the
            # stored hints of D1 and D2 stay the ones checked below.
            with pytest.raises(RunFailed, match="blocking asset check"):
                snapshot(instance, Settings(database_url=store_url, min_form_runs=10000, min_segment_runs=10000,
                                            min_family_runs=100000), D2 + timedelta(days=1))
            runs = count_runs(instance, LearningStore(database_url=store_url), settings)
        assert runs == {"ok": 5, "err": 1}     # partials + snapshot, twice; then partials ok, snapshot blocked

        with engine.connect() as conn:
            hints = Counter((s, f, k or "") for s, f, k in conn.execute(
                select(style_hints.c.source, style_hints.c.host_family, style_hints.c.segment_key)
                .where(style_hints.c.as_of.in_([D1, D2]))))
            published_at = conn.execute(select(publish_state.c.published_at)).scalar_one()
        choices = Counter(SNAPSHOT1) + Counter(SNAPSHOT2)
        assert hints == choices                 # the graph chose what the events were designed for

        # Wait for a scrape of the final state; evaluate everything at that scrape's timestamp.
        total = sum(choices.values())
        at = wait_for(lambda: (r := query(base, f"timestamp(applylens_autofill_agg_runs_total{{status=\"ok\"}} == 5) "
                                                f"and on() sum(applylens_autofill_style_choice_total) == {total}"))
                      and float(r[0]["value"][1]), 30, "a scrape of the final counters")
        # timestamp() of a plain selector is the sample's time (of an expression it is the query time)
        at = float(query(base, 'timestamp(applylens_autofill_agg_runs_total{status="ok"})')[0]["value"][1])

        events = {e["event_id"]: e for e in [*BATCH1, *BATCH2[:2]]}
        runs_by = Counter((HOST_LABEL[e["host"]], e["status"]) for e in events.values())
        edits_by = Counter()
        durations_by = defaultdict(list)
        for e in events.values():
            edits_by[HOST_LABEL[e["host"]]] += e.get("edit_chars", 0)
            if "duration_ms" in e:
                durations_by[HOST_LABEL[e["host"]]].append(e["duration_ms"])

        def nonzero(result, *labels, scale=1.0):
            return {k: round(v * scale, 6) for k, v in by_labels(result, *labels).items() if v}

        # Raw counters: exact.
        assert nonzero(query(base, "applylens_autofill_style_choice_total", at),
                       "source", "host_family", "segment_key") == dict(choices)
        assert by_labels(query(base, "applylens_autofill_agg_runs_total", at), "status") == {("ok",): 5, ("err",): 1}
        [gauge] = query(base, "applylens_autofill_agg_last_success_timestamp_seconds", at)
        assert float(gauge["value"][1]) == pytest.approx(published_at.replace(tzinfo=timezone.utc).timestamp(), abs=1e-3)
        assert nonzero(query(base, "applylens_autofill_edit_chars_total", at), "host") == \
            {(h,): v for h, v in edits_by.items() if v}

        # Across the exporter restart and the re-ingest nothing went down.
        names = {r["metric"]["__name__"] for r in query(base, '{__name__=~"applylens_autofill_.+"}', at)}
        names -= {n for n in names if n.startswith("applylens_autofill_impact_")}     # learning_impact gauges
        assert len(names) == 18      # 12 SPEC 7 series names (histogram parts counted) + 6 with-vs-without-profile
        for name in sorted(names - {"applylens_autofill_agg_last_success_timestamp_seconds"}):
            assert float(query(base, f"sum(resets({name}[1h]))", at)[0]["value"][1]) == 0, name

        # The SPEC 7 queries (in SPEC order).
        by_source = Counter()
        for (source, _, _), n in choices.items():
            by_source[(source,)] += n
        assert nonzero(query(base, "sum by (source) (rate(applylens_autofill_style_choice_total[5m]))", at),
                       "source", scale=300) == dict(by_source)
        segment = query(base, 'sum by (host_family, segment_key) (increase(applylens_autofill_style_choice_total{source="segment"}[1h]))', at)
        assert nonzero(segment, "host_family", "segment_key") == {("greenhouse", "senior"): 3}
        assert len(segment) == 20                        # the 5 ATS families x 4 segments, 0 where nothing moved
        none_share = query(base, '100 * sum(increase(applylens_autofill_style_choice_total{source="none"}[1h])) '
                                 '/ sum(increase(applylens_autofill_style_choice_total[1h]))', at)
        assert float(none_share[0]["value"][1]) == pytest.approx(100 * 5 / 14)
        assert nonzero(query(base, "sum(rate(applylens_autofill_runs_total[1h])) by (host, status)", at),
                       "host", "status", scale=3600) == dict(runs_by)
        ratio = query(base, 'sum(rate(applylens_autofill_runs_total{status="ok"}[1h])) / sum(rate(applylens_autofill_runs_total[1h]))', at)
        assert float(ratio[0]["value"][1]) == pytest.approx(runs_by_status(runs_by, "ok") / len(events))
        p90 = by_labels(query(base, "histogram_quantile(0.9, sum by (le, host) (rate(applylens_autofill_time_ms_bucket[1h])))", at), "host")
        assert {h for (h,), v in p90.items() if not math.isnan(v)} == set(durations_by)
        for host, durations in durations_by.items():
            assert p90[(host,)] == pytest.approx(expected_quantile(0.9, durations)), host
        # greenhouse: 9 durations, 7 of them <= 60000; rank 8.1 -> 60000 + 60000 * (8.1 - 7) / 2
        assert p90[("greenhouse.io",)] == pytest.approx(93000.0)
        assert by_labels(query(base, "rate(applylens_autofill_agg_runs_total[1h])", at), "status") == \
            pytest.approx({("ok",): 5 / 3600, ("err",): 1 / 3600})
        assert float(query(base, "increase(applylens_autofill_profiles_updated_total[24h])", at)[0]["value"][1]) == \
            pytest.approx(SERVED[D1] + SERVED[D2])
        assert float(query(base, "increase(applylens_autofill_profiles_rejected_total[24h])", at)[0]["value"][1]) == \
            pytest.approx(REJECTED[D1] + REJECTED[D2])

        # Every dashboard panel parses and returns data. Panels comparing with "offset 1d" are
        # evaluated one day later, when this test's samples are a day old (what Grafana shows tomorrow).
        panels = dashboard_queries(DASHBOARD_DIR) if DASHBOARD_DIR.is_dir() else []
        assert len(panels) >= 8 or not DASHBOARD_DIR.is_dir()   # the dashboards directory is optional
        empty = [(d, title, expr) for d, title, expr in panels
                 if not query(base, as_promql(expr), at + (86400 if "offset 1d" in expr else 0))]
        assert not empty, empty

        # The project's rules loaded, evaluate without errors, and the failed run fires its alert.
        if rules:
            def rule_groups():
                return json.loads(http_get(f"{base}/api/v1/rules")[1])["data"]["groups"]

            assert {g["file"] for g in rule_groups()} == {str(p) for p in rules}
            # evaluated after the final scrape (Prometheus reports 0001-01-01 before the first evaluation)
            groups = wait_for(lambda: (g := rule_groups()) and all(
                r["lastEvaluation"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) for x in g for r in x["rules"])
                and g, 15, "rule evaluation")
            bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
            assert not bad, bad
            assert sum(len(g["rules"]) for g in groups) >= 10
            wait_for(lambda: [a for a in json.loads(http_get(f"{base}/api/v1/alerts")[1])["data"]["alerts"]
                              if a["labels"]["alertname"] == "StylehintAggregatorFailing" and a["state"] == "firing"],
                     15, "StylehintAggregatorFailing to fire after the failed run")
    finally:
        exporter.stop()
        prometheus.stop()
    assert time.monotonic() - started < 280      # the zero samples must stay inside the 5m window


def runs_by_status(runs_by: Counter, status: str) -> int:
    return sum(n for (_, s), n in runs_by.items() if s == status)


def test_runs_push_their_run_level_totals_to_a_real_pushgateway(store_url, tmp_path):
    gateway, base = start_pushgateway(tmp_path)
    engine = get_engine(store_url)
    settings = Settings(database_url=store_url, pushgateway_url=base, kpi_min_coverage=0.0, kpi_max_none=1.0,
                        kpi_segment_range=(0.0, 1.0))
    group = {"job": PUSH_JOB, **grouping_key(settings)}

    def pushed():
        parsed = samples(http_get(f"{base}/metrics")[1].decode())
        return {k: v for k, v in parsed.items() if k[0].startswith("applylens_") and
                all(dict(k[1]).get(x) == y for x, y in group.items())}

    try:
        with dg.instance_for_test() as instance:
            ingest(engine, settings, ndjson(BATCH1), datetime(2025, 3, 30, 23))
            snapshot(instance, settings, D1)                       # served_form_profiles pushes
            first = pushed()
            assert value(first, "applylens_autofill_style_choice_total") == sum(SNAPSHOT1.values())
            assert value(first, "applylens_autofill_style_choice_total", source="segment", host_family="greenhouse",
                         segment_key="senior") == 1
            assert value(first, "applylens_autofill_profiles_updated_total") == SERVED[D1]
            assert value(first, "applylens_autofill_agg_runs_total", status="err") == 0     # known series at 0
            assert not value(first, "applylens_autofill_runs_total")   # event series are the exporter's, not pushed

            ingest(engine, settings, ndjson(BATCH2), datetime(2025, 3, 31, 23))
            snapshot(instance, settings, D2)
            assert count_runs(instance, LearningStore(database_url=store_url), settings) == {"ok": 4}
        second = pushed()
        # a later run carries the earlier runs' increments: totals, not per-run deltas, so nothing is overwritten
        assert value(second, "applylens_autofill_style_choice_total") == sum(SNAPSHOT1.values()) + sum(SNAPSHOT2.values())
        assert value(second, "applylens_autofill_agg_runs_total", status="ok") == 4
        assert value(second, "applylens_autofill_profiles_updated_total") == SERVED[D1] + SERVED[D2]
        groups = json.loads(http_get(f"{base}/api/v1/metrics")[1])["data"]
        assert [g["labels"] for g in groups] == [group], groups      # one group per store, not one per run
    finally:
        gateway.stop()
    # a gateway that is down never fails the work that was counted
    assert push_run_series(engine, Settings(database_url=store_url, pushgateway_url=base)) is False
