"""The Prometheus rules and Grafana dashboards against SPEC 7 (metric names, Grafana queries).

promtool checks and unit-tests the rules and parses every dashboard query. Without promtool
these tests skip with the reason, except in CI (CI=true), where they fail: install it with
scripts/install-ops-tools.sh.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .ops_queries import DASHBOARD_DIR, as_promql, dashboard_queries, rule_files, rule_test_files, walk_panels

# SPEC 7, verbatim: "These Grafana queries must return the right numbers against the exported metrics".
SPEC_GRAFANA_QUERIES = [
    "sum by (source) (rate(applylens_autofill_style_choice_total[5m]))",
    'sum by (host_family, segment_key) (increase(applylens_autofill_style_choice_total{source="segment"}[1h]))',
    '100 * sum(increase(applylens_autofill_style_choice_total{source="none"}[1h])) / sum(increase(applylens_autofill_style_choice_total[1h]))',
    "sum(rate(applylens_autofill_runs_total[1h])) by (host, status)",
    'sum(rate(applylens_autofill_runs_total{status="ok"}[1h])) / sum(rate(applylens_autofill_runs_total[1h]))',
    "histogram_quantile(0.9, sum by (le, host) (rate(applylens_autofill_time_ms_bucket[1h])))",
    "rate(applylens_autofill_agg_runs_total[1h])",
    "increase(applylens_autofill_profiles_updated_total[24h])",
]

# SPEC 7 metric names (the histogram is exported as _bucket, _sum and _count series).
SPEC_METRICS = {
    "applylens_autofill_style_choice_total", "applylens_autofill_agg_runs_total",
    "applylens_autofill_agg_last_success_timestamp_seconds", "applylens_autofill_profiles_updated_total",
    "applylens_autofill_profiles_rejected_total", "applylens_autofill_runs_total",
    "applylens_autofill_edit_chars_total", "applylens_autofill_time_ms_bucket", "applylens_autofill_time_ms_sum",
    "applylens_autofill_time_ms_count", "applylens_autofill_policy_total", "applylens_autofill_profile_usage_total",
}
# Gauges of the newest learning_impact partition (issue 5), on the impact dashboard only.
IMPACT_METRICS = {"applylens_autofill_impact_as_of_timestamp_seconds", "applylens_autofill_impact_runs",
                  "applylens_autofill_impact_sufficient"} | {
    f"applylens_autofill_impact_{name}{suffix}" for name in (
        "success_ratio", "edit_chars_mean", "duration_p50_seconds", "duration_p90_seconds", "difference")
    for suffix in ("", "_low", "_high")}
METRIC_NAME = re.compile(r"(?<![\w:])applylens_\w+")

EXPECTED_ALERTS = {
    "StylehintAggregatorFailing", "StylehintNoRecentPublish", "StylehintCoverageBelowTarget",
    "StylehintNoneShareHigh", "StylehintSegmentShareOutOfRange", "StylehintSuccessRatioDropping",
    "StylehintExporterDown",
}
ALERTS_DOC = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"


def doc_anchors() -> set[str]:
    """GitHub's anchors of the headings of docs/alerts.md (lower case, spaces to dashes)."""
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", ALERTS_DOC.read_text(), re.M)}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is not on PATH: install it with scripts/install-ops-tools.sh prometheus"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason} (CI must run the rule tests)")
        pytest.skip(reason)
    return path


def run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=300)


def rules() -> list[dict]:
    return [rule for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]]


def alerts() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def test_the_ops_files_exist():
    assert rule_files(), "no rule file in ops/prometheus/rules"
    assert rule_test_files(), "no promtool test file in ops/prometheus/tests"
    assert len(dashboard_queries()) >= len(SPEC_GRAFANA_QUERIES)


def test_promtool_check_rules(promtool):
    result = run(promtool, "check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests(promtool):
    result = run(promtool, "test", "rules", *rule_test_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_expected_alerts_are_defined():
    assert {rule["alert"] for rule in alerts()} == EXPECTED_ALERTS


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_alert_has_severity_service_and_annotations(alert):
    (rule,) = [rule for rule in alerts() if rule["alert"] == alert]
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["labels"]["service"] == "stylehint"
    for annotation in ("summary", "description", "runbook_url"):
        assert rule.get("annotations", {}).get(annotation, "").strip(), f"{alert}: no {annotation} annotation"
    assert "runbook" not in rule["annotations"]        # the convention is runbook_url
    page, anchor = rule["annotations"]["runbook_url"].split("#")
    assert page == "docs/alerts.md" and anchor == alert.lower() and anchor in doc_anchors()


def test_rules_name_the_jobs_that_exist():
    from stylehint_assets.definitions import defs

    text = " ".join(str(rule.get("annotations")) for rule in alerts())
    named = set(re.findall(r"\b(\w+_(?:hints|partials|job))\b", text))
    assert named and named <= {job.name for job in defs.jobs} | {"six_hourly_hints"}


def test_the_exporter_alert_covers_down_and_absent_targets():
    (rule,) = [rule for rule in alerts() if rule["alert"] == "StylehintExporterDown"]
    assert 'up{job="stylehint"} == 0' in rule["expr"] and 'absent(up{job="stylehint"})' in rule["expr"]


def test_alerts_posted_by_dagster_have_runbook_anchors():
    from sensors.alerts import RUNBOOK_ANCHORS

    assert set(RUNBOOK_ANCHORS.values()) <= doc_anchors()


def test_every_alert_is_unit_tested_firing_and_quiet():
    firing, quiet = set(), set()
    for path in rule_test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test") or ():
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing >= EXPECTED_ALERTS, f"never tested firing: {sorted(EXPECTED_ALERTS - firing)}"
    assert quiet >= EXPECTED_ALERTS, f"never tested quiet: {sorted(EXPECTED_ALERTS - quiet)}"


@pytest.mark.parametrize("query", SPEC_GRAFANA_QUERIES)
def test_spec_grafana_query_is_on_a_dashboard(query):
    assert query in {expr for _, _, expr in dashboard_queries()}


def test_rules_and_dashboards_use_only_spec_metric_names():
    exprs = [rule["expr"] for rule in rules()] + [expr for _, _, expr in dashboard_queries()]
    used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert used - SPEC_METRICS - IMPACT_METRICS == set()
    assert used >= SPEC_METRICS - {"applylens_autofill_time_ms_sum", "applylens_autofill_time_ms_count"}


def test_every_dashboard_query_parses(promtool, tmp_path):
    queries = dashboard_queries()
    rules_file = tmp_path / "dashboard_queries.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard_queries", "rules": [
        {"record": f"dashboard_query_{n}", "expr": as_promql(expr)} for n, (_, _, expr) in enumerate(queries)]}]}))
    result = run(promtool, "check", "rules", rules_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout


def test_query_parse_check_rejects_a_broken_query(promtool, tmp_path):
    """The check above would catch a typo: promtool does parse a recording rule's expr."""
    rules_file = tmp_path / "broken.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "dashboard_query_0", "expr": as_promql("sum(rate(applylens_autofill_runs_total[$__unknown])")}]}]}))
    assert run(promtool, "check", "rules", rules_file).returncode != 0


def test_as_promql_replaces_only_grafana_intervals():
    assert as_promql("increase(x[$__range]) / increase(x[${__interval}])") == "increase(x[7d]) / increase(x[5m])"
    assert as_promql("x{host=~\"$host\"}") == "x{host=~\"$host\"}"


def test_dashboard_queries_walks_collapsed_rows(tmp_path):
    dashboard = {"panels": [
        {"type": "row", "title": "open", "panels": []},
        {"type": "timeseries", "title": "top", "targets": [{"refId": "A", "expr": "up"}, {"refId": "B", "expr": ""}]},
        {"type": "row", "title": "closed", "collapsed": True, "panels": [
            {"type": "stat", "title": "nested", "targets": [{"refId": "A", "expr": "time()"}]}]},
        {"type": "text", "title": "no targets"},
    ]}
    (tmp_path / "a.json").write_text(json.dumps(dashboard))
    assert dashboard_queries(tmp_path) == [("a.json", "top", "up"), ("a.json", "nested", "time()")]
    assert dashboard_queries(tmp_path / "a.json") == dashboard_queries(tmp_path)


@pytest.mark.parametrize("path", sorted(DASHBOARD_DIR.glob("*.json")), ids=lambda p: p.name)
def test_dashboard_uses_the_datasource_variable(path):
    dashboard = json.loads(path.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    panels = list(walk_panels(dashboard["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]



def test_impact_dashboard_uses_exported_impact_gauges():
    from stylehint_assets.domain.impact import gauge_samples
    from stylehint_assets.domain.events import PROFILE_SOURCES

    exported = {name for name, _, _ in gauge_samples([], None, PROFILE_SOURCES)}
    assert exported == IMPACT_METRICS
    used = {name for file, _, expr in dashboard_queries() if file == "impact.json" for name in METRIC_NAME.findall(expr)}
    assert used and used <= exported


# Series that move once per event: a dashboard shows them as a rate over Grafana's
# $__rate_interval. The style-choice and profile series move once per publish (every 6 h), so
# their panels keep windows tied to that cadence, as SPEC 7's queries do.
PER_EVENT = re.compile(r"rate\((applylens_autofill_(?:runs|edit_chars|policy|profile_usage|profile_runs|profile_edit_chars|"
                       r"profile_edited_runs)_total|applylens_autofill_(?:profile_)?time_\w+_bucket)\[([^\]]+)\]")
RECORDING_NAME = re.compile(r"^[a-z_]+:(applylens_[a-z_]+):[a-z0-9_]+$")


def test_recording_rules_are_named_level_metric_operations():
    records = [rule["record"] for rule in rules() if "record" in rule]
    assert records
    for name in records:
        match = RECORDING_NAME.match(name)
        assert match, f"{name}: not level:metric:operations"
        metric = match.group(1)
        assert any(m.startswith(metric) for m in SPEC_METRICS), f"{name}: {metric} is not an exported metric"
        assert "percent" not in name, f"{name}: ratios are 0-1"


def test_ratio_rules_and_alerts_are_0_to_1():
    for rule in rules():
        if "ratio" in rule.get("record", ""):
            assert not re.search(r"(?<![\w.])100\s*\*", rule["expr"]), rule["record"]
    thresholds = {rule["alert"]: rule["expr"] for rule in alerts()}
    assert "< 0.8" in thresholds["StylehintCoverageBelowTarget"]
    assert ">= 0.2" in thresholds["StylehintNoneShareHigh"]
    assert "< 0.25" in thresholds["StylehintSegmentShareOutOfRange"] and "> 0.35" in thresholds["StylehintSegmentShareOutOfRange"]


def test_dashboards_rate_per_event_series_over_the_rate_interval():
    checked = 0
    spec_panels = {(file, title) for file, title, expr in dashboard_queries() if expr in SPEC_GRAFANA_QUERIES}
    for file, title, expr in dashboard_queries():
        if (file, title) in spec_panels:
            continue   # SPEC 7's queries stay verbatim, and the queries beside them share their window
        for _, window in PER_EVENT.findall(expr):
            checked += 1
            assert window == "$__rate_interval", f"{file} / {title}: {expr}"
    assert checked >= 4


def test_series_this_project_added_use_base_units():
    from stylehint_assets.metrics.collector import COUNTERS, HISTOGRAMS
    from stylehint_assets.domain.events import PROFILE_SOURCES
    from stylehint_assets.domain.impact import gauge_samples

    spec = {n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for n in SPEC_METRICS}
    added = (set(COUNTERS) | set(HISTOGRAMS) | {n for n, _, _ in gauge_samples([], None, PROFILE_SOURCES)}) - spec
    assert "applylens_autofill_profile_time_seconds" in added
    for name in added:
        assert not re.search(r"_(ms|milliseconds|percent)(_|$)", name), name
