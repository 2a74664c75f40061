"""The served snapshot's freshness: one window for Dagster and the Prometheus alert."""
import re
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import yaml

from stylehint_assets.definitions import defs
from stylehint_assets.publish_freshness import PUBLISH_MAX_AGE_HOURS

from .graph_helpers import ingest_events, snapshot

RULES = Path(__file__).resolve().parents[1] / "ops/prometheus/rules/stylehint.rules.yml"
SERVED = dg.AssetKey("served_form_profiles")


def _no_publish_alert_hours() -> float:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    expr = next(r["expr"] for r in rules if r.get("alert") == "StylehintNoRecentPublish")
    match = re.search(r"applylens_autofill_agg_last_success_timestamp_seconds\)\s*>\s*([\d.]+)(\s*\*\s*3600)?", expr)
    assert match, expr
    return float(match.group(1)) if match.group(2) else float(match.group(1)) / 3600


def test_the_freshness_policy_and_the_no_publish_alert_share_the_window():
    policy = defs.resolve_asset_graph().get(SERVED).freshness_policy
    assert policy.fail_window.to_timedelta() == timedelta(hours=PUBLISH_MAX_AGE_HOURS)
    assert _no_publish_alert_hours() == PUBLISH_MAX_AGE_HOURS
    others = [k for k in defs.resolve_asset_graph().get_all_asset_keys()
              if k != SERVED and defs.resolve_asset_graph().get(k).freshness_policy]
    assert others == []


def test_a_backfill_of_an_old_day_does_not_refresh_the_served_snapshot(engine, settings):
    events = [{"event_id": f"e{d}-{i}", "host": "jobs.lever.co", "schema_hash": "s", "gen_style_id": "a",
               "created_at": f"2025-03-{d}T10:00:00Z", "feedback_status": "helpful"} for d in (20, 31) for i in range(3)]
    ingest_events(engine, settings, events)
    with dg.instance_for_test() as instance:
        snapshot(instance, settings, date(2025, 3, 31))
        published = instance.get_latest_materialization_event(SERVED)
        assert published.asset_materialization.partition == "2025-03-31"
        snapshot(instance, settings, date(2025, 3, 20))     # older than the served snapshot: not published
        assert instance.get_latest_materialization_event(SERVED).timestamp == published.timestamp
        assert instance.get_materialized_partitions(SERVED) == {"2025-03-31"}
        assert instance.get_latest_materialization_event(dg.AssetKey("style_hints")).asset_materialization \
            .partition == "2025-03-20"
