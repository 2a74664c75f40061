"""Late events: events that reached a day after its partials were built (late uploads, late
feedback merged by ``event_id``, a ``created_at`` moved by a merge).

Only days inside the window of the published snapshot (as of P) and before P are looked at;
days >= P belong to the new-events sensor, and older snapshots are history (re-run on request).
Two steps, one per tick, so the snapshot never reads half-rebuilt days:
1. stale days -> ``refresh_daily_partials`` over each run of consecutive stale days (exactly those days);
2. no stale day left, but a day of P's window was rebuilt after the run that published P started
   -> ``publish_style_hints`` for P.
Nothing is requested while aggregation runs are queued or running (they may be rebuilding those days).
Run keys are derived from the store's state, so repeated ticks never duplicate a run, and a
failed run is not retried in a loop (its failure is alerted; re-run it from the UI).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import dagster as dg

from resources import LearningStore
from stylehint_assets.clock import utc_from_timestamp
from stylehint_assets.config import Settings
from stylehint_assets.jobs import daily_partials_job, publish_hints_job
from stylehint_assets.runner import RANGE_END_TAG, RANGE_START_TAG, TRIGGER_TAG, window_for
from stylehint_assets.store.backlog import DayBacklog, newest_rebuild, stale_days
from stylehint_assets.store.reads import published_as_of

from .common import aggregation_blocked


def day_ranges(days: list[DayBacklog]) -> list[list[DayBacklog]]:
    """Consecutive days grouped, so each range is one single-run refresh of exactly those days."""
    ranges: list[list[DayBacklog]] = []
    for d in days:
        if ranges and ranges[-1][-1].day + timedelta(days=1) == d.day:
            ranges[-1].append(d)
        else:
            ranges.append([d])
    return ranges


def refresh_request(days: list[DayBacklog]) -> dg.RunRequest:
    start, end = days[0].day.isoformat(), days[-1].day.isoformat()
    state = hashlib.sha256("|".join(f"{d.day}:{d.token}" for d in days).encode()).hexdigest()[:16]
    return dg.RunRequest(job_name=daily_partials_job.name, run_key=f"late_days:{start}:{end}:{state}",
                         tags={RANGE_START_TAG: start, RANGE_END_TAG: end, TRIGGER_TAG: "late_events_sensor"})


def snapshot_started(instance: dg.DagsterInstance, run_id: str | None, published_at: datetime | None) -> datetime | None:
    """When the run that published the snapshot started (naive UTC); the publish time when the run
    is not in this instance (e.g. published by the CLI on another instance)."""
    record = instance.get_run_record_by_id(run_id) if run_id else None
    if record is not None and record.start_time:
        return utc_from_timestamp(record.start_time)
    return published_at


def build_late_events_sensor(interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(name="late_events_sensor", jobs=[daily_partials_job, publish_hints_job],
               minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Events that arrived after their day was aggregated: rebuild exactly those days, "
                           "then re-run the published snapshot whose window includes them.")
    def late_events_sensor(context: dg.SensorEvaluationContext, store: LearningStore,
                           settings: dg.ResourceParam[Settings]):
        if blocked := aggregation_blocked(context.instance, settings):
            return dg.SkipReason(blocked)
        with store.connect() as conn:
            as_of, published_at, run_id = published_as_of(conn)
            if as_of is None:
                return dg.SkipReason("nothing published yet: no snapshot can be late")
            start, _ = window_for(as_of, settings)
            end = as_of - timedelta(days=1)
            backlog = stale_days(conn, start, end) if start <= end else []
            rebuilt = newest_rebuild(conn, start, end) if start <= end else None
        if backlog:
            requests = [refresh_request(r) for r in day_ranges(backlog)]
            context.log.info(f"late events on {[d.day.isoformat() for d in backlog]}: rebuilding those days")
            return dg.SensorResult(run_requests=requests)
        started = snapshot_started(context.instance, run_id, published_at)
        if rebuilt is None or started is None or rebuilt <= started:
            return dg.SkipReason(f"no late events in the window {start}..{as_of} of the published snapshot")
        context.log.info(f"days of the window rebuilt at {rebuilt} after snapshot {as_of} started: re-running it")
        return dg.RunRequest(job_name=publish_hints_job.name, partition_key=as_of.isoformat(),
                             run_key=f"late_snapshot:{as_of.isoformat()}:{rebuilt.strftime('%Y%m%dT%H%M%S%f')}",
                             tags={TRIGGER_TAG: "late_events_sensor"})

    return late_events_sensor
