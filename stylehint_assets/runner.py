"""Materializing a snapshot through Dagster, as the CLI and tests do.

Two runs per as-of day D: the per-day assets over the window's days in one run (their
backfill policy is single-run), then the window assets, hints, publication and learning_impact for D.
Both are recorded in the Dagster instance, so the UI shows them.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from . import partitions
from .config import Settings
from .groups import HINTS_GROUP, IMPACT_GROUP, STATS_GROUP

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
TRIGGER_TAG = "stylehint/trigger"   # who asked for a run: cli, schedule, new_events_sensor, ...
HOST_TAG, PID_TAG = "stylehint/host", "stylehint/pid"   # the process an in-process run lives in (sensors/dead_runs.py)
# The caller reports a failed run in one line (RunFailed); Dagster's console logger would print
# every step failure with its stack trace first. The event log keeps everything for the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
VERBOSE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


class RunFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class SnapshotRuns:
    as_of: date
    window: tuple[date, date]
    run_ids: tuple[str, ...]


def embedded_dagster_home(project_root: Path | None = None) -> Path:
    """DAGSTER_HOME when set; else the project root holding the embedded dagster.yaml."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    root = project_root or Path.cwd()
    if not (root / "dagster.yaml").exists():
        raise RunFailed(f"no dagster.yaml in {root}: run from the project root or set DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(root.resolve())
    return root


def get_instance() -> dg.DagsterInstance:
    embedded_dagster_home()
    return dg.DagsterInstance.get()


def window_for(as_of: date, settings: Settings) -> tuple[date, date]:
    return partitions.window_for(as_of, settings.start_date, settings.lookback_days)


def _user_error(error) -> str:
    """First line of the error the asset raised, under Dagster's step-execution wrapper."""
    def framework(e) -> bool:  # Dagster's wrappers: step execution, retry requested by the policy
        return (e.cls_name or "").startswith(("Dagster", "RetryRequested")) or e.message.startswith("dagster.")

    while error.cause is not None and framework(error):
        error = error.cause
    lines = error.message.strip().splitlines()
    return lines[0] if lines else error.cls_name or "unknown error"


def _failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The failed step and the error its asset raised; after exhausted retries (whose final
    failure only says so) the error of the last attempt."""
    last_error, retries, failed = {}, {}, None
    for e in result.all_events:
        error = getattr(e.event_specific_data, "error", None)
        if e.event_type_value == "STEP_UP_FOR_RETRY":
            retries[e.step_key] = retries.get(e.step_key, 0) + 1
            if error is not None:
                last_error[e.step_key] = error
        elif e.event_type_value == "STEP_FAILURE" and failed is None:
            failed = e.step_key
            if error is not None and not error.message.startswith("Exceeded max_retries"):
                last_error[e.step_key] = error
    if failed is None:
        return "see the run in the UI"
    after = f" (after {retries[failed]} retries)" if retries.get(failed) else ""
    error = last_error.get(failed)
    return f"step {failed}{after}: {_user_error(error) if error is not None else 'failed'}"


def _check(result: dg.ExecuteInProcessResult, what: str) -> str:
    if result.success:
        return result.run_id
    blocked = sorted(e.check_name for e in result.get_asset_check_evaluations()
                     if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR)
    if blocked:
        reason = f"blocking asset check(s) failed: {', '.join(blocked)}; the served profiles were not replaced"
    else:
        reason = _failure_reason(result)
    raise RunFailed(f"{what} failed (run {result.run_id}): {reason}")


def materialize_as_of(defs: dg.Definitions, instance: dg.DagsterInstance, as_of: date, settings: Settings,
                      tags: dict | None = None, verbose: bool = False) -> SnapshotRuns:
    """Run what the snapshot as of ``as_of`` needs, including its window's upstream days."""
    if as_of < settings.start_date:
        raise RunFailed(f"{as_of} is before the first partition {settings.start_date} (STYLEHINT_START_DATE)")
    start, end = window_for(as_of, settings)
    tags = {TRIGGER_TAG: "cli", HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), **(tags or {})}
    kwargs = {"instance": instance, "run_config": VERBOSE if verbose else QUIET}
    days = defs.resolve_job_def("refresh_daily_partials").execute_in_process(
        tags={**tags, RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        raise_on_error=False, **kwargs,
    )
    first = _check(days, f"daily partials {start}..{end}")
    snapshot = defs.resolve_job_def("publish_style_hints").execute_in_process(
        partition_key=as_of.isoformat(), tags=tags,
        asset_selection=list(dg.AssetSelection.groups(STATS_GROUP, HINTS_GROUP, IMPACT_GROUP).resolve(defs.resolve_asset_graph())),
        raise_on_error=False, **kwargs,
    )
    second = _check(snapshot, f"snapshot as of {as_of}")
    return SnapshotRuns(as_of, (start, end), (first, second))
