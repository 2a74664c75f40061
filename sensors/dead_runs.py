"""Aggregation runs whose process is gone: marked failed, so no sensor waits for them forever.

A ``stylehint materialize`` runs its steps inside the CLI's own process (``execute_in_process``),
where Dagster's run monitoring cannot see it: a SIGKILLed CLI leaves its run STARTED, and the
event sensors would wait for it for ever. The runner tags each run with its process (host and
pid). A run still STARTING or STARTED is dead when its process on this host no longer exists, or,
for runs without that tag or from another host, when it wrote no event for
``STYLEHINT_DEAD_RUN_MINUTES``. A dead run is marked FAILURE with the reason; the failure-alerts
sensor then posts one alert for it, and the run-outcome counter counts it as ``err``.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg

from stylehint_assets.clock import utc_from_timestamp
from stylehint_assets.jobs import AGGREGATION_JOB_NAMES
from stylehint_assets.runner import HOST_TAG, PID_TAG

RUNNING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class RunningRun:
    run_id: str
    host: str | None       # from the runner's tags; None for runs the daemon launched
    pid: int | None
    last_event: datetime   # naive UTC: the run's newest event (its heartbeat)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    return True


def dead_reason(run: RunningRun, now: datetime, bound: timedelta, this_host: str,
                alive: Callable[[int], bool] = pid_alive) -> str | None:
    """Why a running run is dead, or None while it may still be working."""
    if run.host == this_host and run.pid is not None and not alive(run.pid):
        return f"its process (pid {run.pid} on {run.host}) is gone"
    quiet = now - run.last_event
    if quiet >= bound:
        return (f"no event for {quiet.total_seconds() / 60:.0f} min "
                f"(>= STYLEHINT_DEAD_RUN_MINUTES={bound.total_seconds() / 60:.0f})")
    return None


def _running(instance: dg.DagsterInstance, limit: int = 50) -> list[tuple[dg.DagsterRun, RunningRun]]:
    out = []
    for name in AGGREGATION_JOB_NAMES:
        for record in instance.get_run_records(dg.RunsFilter(job_name=name, statuses=RUNNING), limit=limit):
            run = record.dagster_run
            newest = instance.get_records_for_run(run.run_id, limit=1, ascending=False).records
            last = newest[0].timestamp if newest else (record.start_time or record.create_timestamp.timestamp())
            pid = run.tags.get(PID_TAG)
            out.append((run, RunningRun(run.run_id, run.tags.get(HOST_TAG), int(pid) if pid and pid.isdigit() else None,
                                        utc_from_timestamp(last))))
    return out


def fail_dead_runs(instance: dg.DagsterInstance, now: datetime, bound_minutes: int) -> list[str]:
    """Mark every dead aggregation run FAILURE (with the reason); returns their run ids."""
    failed = []
    this_host = socket.gethostname()
    for run, running in _running(instance):
        reason = dead_reason(running, now, timedelta(minutes=bound_minutes), this_host)
        if reason is None:
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status not in RUNNING:   # finished meanwhile
            continue
        instance.report_run_failed(current, message=f"Run {run.run_id} of {run.job_name} marked failed by the "
                                                    f"stylehint sensors: {reason}")
        failed.append(run.run_id)
    return failed
