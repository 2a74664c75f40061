"""No run waits forever: a SIGKILLed ``stylehint materialize`` leaves its run STARTED; the sensors
mark it failed with the reason, resume, and the failure is alerted once."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from sensors.dead_runs import RunningRun, dead_reason
from stylehint_assets.config import Settings
from stylehint_assets.runner import PID_TAG

from .sensor_helpers import FakeAlertmanager, tick
from .test_cli import events_file

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 4, 1, 12)


def test_a_run_is_dead_when_its_process_is_gone_or_it_stays_silent_past_the_bound():
    bound = timedelta(minutes=60)
    here = RunningRun("r1", "host-a", 4242, NOW - timedelta(minutes=1))
    assert dead_reason(here, NOW, bound, "host-a", alive=lambda pid: False) == "its process (pid 4242 on host-a) is gone"
    assert dead_reason(here, NOW, bound, "host-a", alive=lambda pid: True) is None
    assert dead_reason(here, NOW, bound, "host-b", alive=lambda pid: False) is None   # another host's pid says nothing
    daemon_run = RunningRun("r2", None, None, NOW - timedelta(minutes=59))
    assert dead_reason(daemon_run, NOW, bound, "host-a") is None
    late = RunningRun("r2", None, None, NOW - timedelta(minutes=61))
    assert dead_reason(late, NOW, bound, "host-a") == "no event for 61 min (>= STYLEHINT_DEAD_RUN_MINUTES=60)"


@pytest.fixture
def cli_project(tmp_path, monkeypatch):
    """A project directory with its embedded instance, and this process pointed at the same instance."""
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    url = f"sqlite:///{tmp_path}/learning.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "DAGSTER_", "COMPANION_"))}
    env.update(STYLEHINT_DATABASE_URL=url, STYLEHINT_KPI_MIN_COVERAGE="0", STYLEHINT_KPI_MAX_NONE="1",
               STYLEHINT_KPI_SEGMENT_RANGE="0-1", PYTHONWARNINGS="ignore", DAGSTER_HOME=str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    settings = Settings(database_url=url, kpi_min_coverage=0.0, kpi_max_none=1.0, kpi_segment_range=(0.0, 1.0),
                        new_events_threshold=1)
    return tmp_path, env, settings


def _cli(env, *args, **kwargs):
    return [sys.executable, "-m", "stylehint_assets.cli", *args], dict(env=env, **kwargs)


def _started_run(instance: dg.DagsterInstance, pid: int, timeout: float = 240) -> dg.DagsterRun | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=5):
            if record.dagster_run.tags.get(PID_TAG) == str(pid):
                return record.dagster_run
        time.sleep(0.05)
    return None


def test_a_sigkilled_materialize_is_failed_by_the_sensors_and_alerted_once(cli_project):
    home, env, settings = cli_project
    argv, kw = _cli(env, "ingest", str(events_file(home / "events.ndjson")))
    assert subprocess.run(argv, capture_output=True, timeout=300, **kw).returncode == 0
    argv, kw = _cli(env, "materialize", "--as-of", "2025-03-11")
    assert subprocess.run(argv, capture_output=True, timeout=600, **kw).returncode == 0

    with dg.DagsterInstance.get() as instance:
        argv, kw = _cli(env, "materialize", "--as-of", "2025-03-12")
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        try:
            run = _started_run(instance, proc.pid)
            assert run is not None, "the materialize never showed a STARTED run"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(30)
        killed_at = time.monotonic()
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED   # left behind
        assert run.tags["stylehint/host"] == socket.gethostname()

        resumed = {name: tick(name, settings, instance) for name in ("new_events_sensor", "late_events_sensor")}
        waited = time.monotonic() - killed_at
        for name, result in resumed.items():
            assert "waiting" not in (result.skip_message or ""), (name, result.skip_message)
        assert waited < settings.dead_run_minutes * 60
        failed = instance.get_run_by_id(run.run_id)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert f"pid {proc.pid} on {socket.gethostname()}) is gone" in failure.dagster_event.message

        with FakeAlertmanager().running() as alertmanager:
            alerting = replace(settings, alertmanager_url=alertmanager.url)
            first = tick("failure_alerts_sensor", alerting, instance)
            again = tick("failure_alerts_sensor", alerting, instance, cursor=first.cursor)
            assert "0 alert(s) sent" in again.skip_message
            tick("new_events_sensor", settings, instance)   # a later tick fails nothing twice
            assert len(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)) == 1
            third = tick("failure_alerts_sensor", alerting, instance, cursor=again.cursor)
        assert "0 alert(s) sent" in third.skip_message
        (alert,) = alertmanager.alerts
        assert alert["labels"]["alertname"] == "StylehintRunFailed" and alert["annotations"]["run_id"] == run.run_id
        assert "is gone" in alert["annotations"]["description"]
