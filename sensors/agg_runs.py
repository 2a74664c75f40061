"""Counting aggregation runs by outcome: ``applylens_autofill_agg_runs_total{status="ok"|"err"}``.

Two run-status sensors watch the aggregation jobs (``publish_style_hints`` and
``refresh_daily_partials``): a run that ends SUCCESS counts as ``ok``, FAILURE as ``err``
(a cancelled run is neither). The count is durable and idempotent: the run id is claimed in
``metric_counted_runs`` in the same transaction as the increment, so a sensor that sees a run
again (a retried tick, a reset cursor, a second daemon) adds nothing. When
``PROMETHEUS_PUSHGATEWAY_URL`` is set, the run-level totals are pushed afterwards.
"""
from __future__ import annotations

import dagster as dg

from resources import LearningStore
from stylehint_assets.clock import utcnow
from stylehint_assets.config import Settings
from stylehint_assets.jobs import AGGREGATION_JOBS
from stylehint_assets.metrics.push import push_run_series
from stylehint_assets.store.counters import count_agg_run

def record_agg_run(store: LearningStore, settings: Settings, run_id: str, status: str) -> bool:
    """Count the run once; push the run-level totals when a Pushgateway is configured."""
    with store.transaction() as conn:
        counted = count_agg_run(conn, run_id, status, utcnow())
    if counted:
        push_run_series(store.engine, settings)   # a no-op without PROMETHEUS_PUSHGATEWAY_URL
    return counted


def _count_run(context: dg.RunStatusSensorContext, store: LearningStore, settings: Settings,
               status: str) -> dg.SkipReason | None:
    run_id = context.dagster_run.run_id
    if not record_agg_run(store, settings, run_id, status):
        return dg.SkipReason(f"run {run_id} was already counted")
    return None


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=AGGREGATION_JOBS,
                      default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
                      description="Counts successful aggregation runs in applylens_autofill_agg_runs_total{status=\"ok\"}.")
def agg_run_ok_counter(context: dg.RunStatusSensorContext, store: LearningStore,
                       settings: dg.ResourceParam[Settings]):
    return _count_run(context, store, settings, "ok")


@dg.run_failure_sensor(monitored_jobs=AGGREGATION_JOBS, default_status=dg.DefaultSensorStatus.RUNNING,
                       minimum_interval_seconds=30,
                       description="Counts failed aggregation runs in applylens_autofill_agg_runs_total{status=\"err\"}.")
def agg_run_err_counter(context: dg.RunFailureSensorContext, store: LearningStore,
                        settings: dg.ResourceParam[Settings]):
    return _count_run(context, store, settings, "err")


AGG_RUN_SENSORS = [agg_run_ok_counter, agg_run_err_counter]
