"""The one place that reads failures from the Dagster instance.

Failed check evaluations come from ``instance.event_log_storage.get_asset_check_execution_history``,
which is not public API (open-source Dagster has no public call for it in 1.13), and so are the
sensor tick records (``instance.all_instigator_state`` / ``instance.get_ticks``): if an upgrade
changes them, this module is what to fix. Run failures use the public ``fetch_run_status_changes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg

from stylehint_assets.clock import utc_from_timestamp
from stylehint_assets.runner import RANGE_END_TAG, RANGE_START_TAG

FAILED_BECAUSE_OF_CHECKS = "DagsterAssetCheckFailedError"
PAGE = 100


@dataclass(frozen=True)
class CheckFailure:
    record_id: int
    asset: str
    check: str
    run_id: str
    severity: str          # "ERROR" or "WARN"
    partition: str
    description: str
    at: datetime           # naive UTC
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    partition: str
    message: str
    at: datetime
    failed_steps: tuple[str, ...]
    covered_by_checks: bool   # every failed step failed only because blocking checks failed


@dataclass(frozen=True)
class SensorFailureStreak:
    sensor: str
    first_tick_id: int     # the streak's first failed tick: one alert per streak
    failed_ticks: int      # failed ticks in a row so far (among those read)
    started_at: datetime   # naive UTC
    error: str             # first line of the newest failure


def failing_sensor_streaks(instance: dg.DagsterInstance, ticks_per_sensor: int = 50) -> list[SensorFailureStreak]:
    """Streaks of failed ticks of every sensor with stored state, among its newest ticks, oldest
    first. A streak starts at a failed tick whose previous tick did not fail."""
    from dagster._core.definitions.run_request import InstigatorType  # not public
    from dagster._core.scheduler.instigation import TickStatus  # not public

    out = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        ticks = sorted(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=ticks_per_sensor),
                       key=lambda t: (t.timestamp, t.tick_id))
        streak: list = []
        for t in ticks:
            if t.status == TickStatus.FAILURE:
                streak.append(t)
                continue
            if t.status == TickStatus.STARTED:
                continue        # still running: neither ends nor extends a streak
            if streak:
                out.append(_streak(state.instigator_name, streak))
            streak = []
        if streak:
            out.append(_streak(state.instigator_name, streak))
    return sorted(out, key=lambda s: (s.started_at, s.sensor))


def _streak(sensor: str, ticks: list) -> SensorFailureStreak:
    newest = ticks[-1].error
    message = (newest.message.strip().splitlines() or [""])[0][:500] if newest is not None else ""
    return SensorFailureStreak(sensor, ticks[0].tick_id, len(ticks), utc_from_timestamp(ticks[0].timestamp), message)


def run_partition(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's partition, or its range ``A...B``, or "" for an unpartitioned run."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return ""
    tags = record.dagster_run.tags
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    return f"{start}...{end}" if start and end else ""


def failed_check_evaluations(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, after_id: int,
                             max_records: int = 500) -> list[CheckFailure]:
    """Failed evaluations of one check with a record id above ``after_id``, oldest first."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus  # not public

    found, cursor = [], None
    while len(found) < max_records:
        page = instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=PAGE, cursor=cursor, status={AssetCheckExecutionRecordStatus.FAILED})
        fresh = [r for r in page if r.id > after_id]
        found.extend(fresh)
        if len(page) < PAGE or len(fresh) < len(page):
            break
        cursor = page[-1].id
    out = []
    for r in sorted(found, key=lambda r: r.id):
        evaluation = r.event.dagster_event.event_specific_data if r.event and r.event.dagster_event else None
        if evaluation is None or getattr(evaluation, "passed", True):
            continue
        out.append(CheckFailure(
            record_id=r.id, asset=check_key.asset_key.to_user_string(), check=check_key.name, run_id=r.run_id,
            severity=evaluation.severity.value, partition=evaluation.partition or r.partition or run_partition(instance, r.run_id),
            description=evaluation.description or "", at=utc_from_timestamp(r.create_timestamp),
            metadata={k: str(getattr(v, "value", v))[:200] for k, v in (evaluation.metadata or {}).items()},
        ))
    return out


def run_failures(instance: dg.DagsterInstance, cursor: str | None, limit: int = PAGE) -> tuple[list[RunFailure], str | None]:
    """Run failures after ``cursor`` (the event log's storage id), oldest first, and the new cursor."""
    result = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=limit, cursor=cursor,
                                               ascending=True)
    out = []
    for record in result.records:
        run_id = record.event_log_entry.run_id
        run = instance.get_run_record_by_id(run_id)
        steps = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        errors = [(s.dagster_event.step_key, s.dagster_event.event_specific_data.error) for s in steps
                  if s.dagster_event and s.dagster_event.event_specific_data]
        covered = bool(errors) and all(e is not None and e.cls_name == FAILED_BECAUSE_OF_CHECKS for _, e in errors)
        message = (record.event_log_entry.dagster_event.message or "") if record.event_log_entry.dagster_event else ""
        out.append(RunFailure(
            run_id=run_id, job_name=run.dagster_run.job_name if run else "", partition=run_partition(instance, run_id),
            message=message.splitlines()[0][:500] if message else "", at=utc_from_timestamp(record.timestamp),
            failed_steps=tuple(sorted({k for k, _ in errors if k})), covered_by_checks=covered,
        ))
    return out, (result.cursor if result.records else cursor)


def latest_check_outcome(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, partition: str,
                         max_pages: int = 20) -> tuple[bool, str] | None:
    """The newest evaluation of one check for one partition: (passed, severity), or None when the
    check never ran for it (within the newest ``max_pages`` pages of its history)."""
    cursor = None
    for _ in range(max_pages):
        page = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=PAGE, cursor=cursor)
        for r in page:   # newest first
            evaluation = r.event.dagster_event.event_specific_data if r.event and r.event.dagster_event else None
            if evaluation is None or not hasattr(evaluation, "passed"):
                continue   # planned or still running
            if (evaluation.partition or r.partition or run_partition(instance, r.run_id)) == partition:
                return bool(evaluation.passed), evaluation.severity.value
        if len(page) < PAGE:
            return None
        cursor = page[-1].id
    return None
