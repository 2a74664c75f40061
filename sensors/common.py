"""What the sensors share: the off switch, the clock, cursors, the partition bounds."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import dagster as dg

from stylehint_assets.clock import utcnow
from stylehint_assets.config import Settings
from stylehint_assets.jobs import AGGREGATION_JOB_NAMES
from stylehint_assets.partitions import daily_partitions

from .dead_runs import fail_dead_runs

AGG_OFF = "COMPANION_AUTOFILL_AGG_ENABLED=0: sensor-driven aggregation is off; nothing was read or requested"
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def last_partition_day(now: datetime) -> date:
    """Today (UTC) is the last partition (``end_offset=1``); events dated later wait for their day."""
    assert daily_partitions.end_offset == 1
    return now.date()


def read_cursor(context: dg.SensorEvaluationContext) -> dict[str, Any]:
    try:
        value = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        value = {}   # an unreadable cursor restarts from the store's state, which is safe
    return value if isinstance(value, dict) else {}


def dump_cursor(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def runs_in_flight(instance: dg.DagsterInstance) -> int:
    """Queued or running aggregation runs, asset backfills included (at most a handful are looked at)."""
    return sum(len(instance.get_run_records(dg.RunsFilter(job_name=name, statuses=IN_FLIGHT), limit=5))
               for name in AGGREGATION_JOB_NAMES)


def aggregation_blocked(instance: dg.DagsterInstance, settings: Settings) -> str | None:
    """Why an aggregation sensor requests nothing now, or None. Off by the switch; or waiting
    while aggregation runs (a backfill, the schedule, their own requests) are queued or
    running: those runs read the same days, and the next tick sees what they left. The
    six-hourly schedule is not held back by this."""
    if not settings.agg_enabled:
        return AGG_OFF
    fail_dead_runs(instance, utcnow(), settings.dead_run_minutes)   # a killed run must not hold the sensors
    busy = runs_in_flight(instance)
    return f"waiting: {busy}+ aggregation run(s) queued or running" if busy else None
