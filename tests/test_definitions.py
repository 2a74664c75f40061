"""The code location loads; partitions, windows and the schedule behave as documented."""
from datetime import datetime, timezone

import dagster as dg
import pytest

from stylehint_assets.config import ConfigError, Settings
from stylehint_assets.definitions import build_definitions, defs
from stylehint_assets.partitions import daily_partitions, lookback_window
from stylehint_assets.schedules import scheduled_days, six_hourly_hints

EXPECTED = {"autofill_events", "daily_event_partials", "daily_field_map_counts", "form_style_stats",
            "segment_style_stats", "family_style_stats", "form_profiles", "style_hints", "served_form_profiles",
            "daily_impact_partials", "learning_impact"}


def test_definitions_load_with_described_owned_grouped_assets():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners == ["team:data-platform"], key
        assert node.group_name in {"events", "style_stats", "hints", "impact"}
        assert node.partitions_def == daily_partitions
    assert len(list(graph.asset_check_keys)) == 10   # 9 on style_hints (the gate, KPIs, freshness), 1 on learning_impact


def test_window_assets_depend_on_the_lookback_days():
    graph = defs.resolve_asset_graph()
    deps = graph.get(dg.AssetKey("form_style_stats")).parent_keys
    assert deps == {dg.AssetKey("daily_event_partials")}
    assert graph.get(dg.AssetKey("learning_impact")).parent_keys == {dg.AssetKey("daily_impact_partials")}
    upstream = lookback_window.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.empty_subset().with_partition_keys(["2025-03-31"]), daily_partitions, daily_partitions,
        current_time=datetime(2025, 4, 1, tzinfo=timezone.utc))
    keys = sorted(upstream.partitions_subset.get_partition_keys())
    assert (keys[0], keys[-1], len(keys)) == ("2025-03-02", "2025-03-31", 30)


def test_first_days_window_is_clipped_at_the_start_date():
    upstream = lookback_window.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.empty_subset().with_partition_keys(["2025-01-03"]), daily_partitions, daily_partitions,
        current_time=datetime(2025, 4, 1, tzinfo=timezone.utc))
    assert sorted(upstream.partitions_subset.get_partition_keys()) == ["2025-01-01", "2025-01-02", "2025-01-03"]


@pytest.mark.parametrize("tick, days", [
    (datetime(2025, 3, 10, 0, tzinfo=timezone.utc), ["2025-03-09", "2025-03-10"]),
    (datetime(2025, 3, 10, 6, tzinfo=timezone.utc), ["2025-03-10"]),
    (datetime(2025, 3, 10, 18, tzinfo=timezone.utc), ["2025-03-10"]),
])
def test_schedule_requests_today_and_at_midnight_yesterday(tick, days):
    assert six_hourly_hints.cron_schedule == "0 */6 * * *"
    assert scheduled_days(tick) == days
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                            repository_def=defs.get_repository_def())
        result = six_hourly_hints.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests] == days
    assert len({r.run_key for r in result.run_requests}) == len(days)


def test_schedule_skips_when_aggregation_is_disabled(monkeypatch):
    monkeypatch.setenv("COMPANION_AUTOFILL_AGG_ENABLED", "0")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance,
                                            scheduled_execution_time=datetime(2025, 3, 10, 6, tzinfo=timezone.utc))
        result = six_hourly_hints.evaluate_tick(context)
    assert not result.run_requests and "COMPANION_AUTOFILL_AGG_ENABLED=0" in result.skip_message


@pytest.mark.parametrize("env, name", [
    ({"AGG_LOOKBACK_DAYS": "zero"}, "AGG_LOOKBACK_DAYS"),
    ({"MIN_FORM_RUNS": "0"}, "MIN_FORM_RUNS"),
    ({"COMPANION_AUTOFILL_QUALITY_MIN_SUCCESS": "1.5"}, "COMPANION_AUTOFILL_QUALITY_MIN_SUCCESS"),
    ({"COMPANION_AUTOFILL_PROFILE_ENABLED": "maybe"}, "COMPANION_AUTOFILL_PROFILE_ENABLED"),
    ({"STYLEHINT_RANKING": "best"}, "STYLEHINT_RANKING"),
    ({"STYLEHINT_HOST_FAMILIES": "nope"}, "STYLEHINT_HOST_FAMILIES"),
])
def test_invalid_settings_fail_naming_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_settings_defaults_are_the_spec_values():
    s = Settings.from_env({})
    assert (s.lookback_days, s.min_form_runs, s.min_segment_runs, s.min_family_runs) == (30, 5, 5, 10)
    assert (s.quality_min_success, s.quality_max_edit, s.profile_enabled, s.agg_enabled) == (0.6, 500.0, True, True)


def test_config_errors_never_echo_urls():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"STYLEHINT_ALERTMANAGER_URL": "ftp://user:" + "s3cret@host"})  # built, not a literal
    assert "s3cret" not in str(info.value) and "STYLEHINT_ALERTMANAGER_URL" in str(info.value)


@pytest.mark.parametrize("choice", ["in_process", "multiprocess"])
def test_the_executor_is_a_setting_and_in_process_by_default(choice):
    assert Settings().executor == "in_process"
    built = build_definitions(settings=Settings.from_env({"STYLEHINT_EXECUTOR": choice}))
    assert built.executor.name == choice   # the jobs define none of their own, so they all use it
    assert all(job.executor_def is None for job in built.jobs)
    assert defs.executor.name == "in_process"


def test_an_unknown_executor_is_refused_by_name():
    with pytest.raises(ConfigError, match="STYLEHINT_EXECUTOR"):
        Settings.from_env({"STYLEHINT_EXECUTOR": "celery"})
