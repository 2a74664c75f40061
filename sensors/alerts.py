"""Alerts on failed checks, failed runs and failing sensor ticks, posted to Alertmanager
(``STYLEHINT_ALERTMANAGER_URL``).

Each tick: read new failures from the instance (``instance_history``): failed evaluations of every
asset check of the code location, run failures, and streaks of failed sensor ticks (one alert per
streak, keyed by its first failed tick). Store one alert per failure in the outbox
(``alert_outbox``, unique ``dedupe_key``), then post every unsent alert. The cursor
(newest check record id per check, the run-failure event cursor) is saved with the tick; the
outbox makes re-reading harmless and keeps alerts that Alertmanager could not take for the next tick.

Dedupe rule: a run failure whose every failed step failed only because blocking checks failed
(``DagsterAssetCheckFailedError``) is covered by the check alerts and not alerted again, so a
failed KPI raises exactly one alert per failed check. Any other run failure is alerted.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from resources import LearningStore
from stylehint_assets.clock import utcnow
from stylehint_assets.config import Settings
from stylehint_assets.assets import ASSETS
from stylehint_assets.store import alerts as outbox

from .alertmanager import AlertmanagerDown, payload, post_alerts
from .common import AGG_OFF, dump_cursor, read_cursor
from .instance_history import (
    CheckFailure, RunFailure, SensorFailureStreak, failed_check_evaluations, failing_sensor_streaks, run_failures,
)

# Every check of every asset. The cursor keys them by check name, so names stay unique.
CHECK_KEYS = sorted({key for asset in ASSETS for key in asset.check_keys}, key=lambda k: (k.asset_key.path, k.name))
assert len({k.name for k in CHECK_KEYS}) == len(CHECK_KEYS), "asset check names must be unique"
RUNBOOK_ANCHORS = {"StylehintAssetCheckFailed": "stylehintassetcheckfailed", "StylehintRunFailed": "stylehintrunfailed",
                   "StylehintSensorFailing": "stylehintsensorfailing"}
# Without a cursor (first tick ever), failures older than this are history, not news.
FIRST_TICK_LOOKBACK = timedelta(hours=24)
SEVERITY = {"ERROR": "error", "WARN": "warning"}   # values of store.alerts.ALERT_SEVERITIES


def run_url(settings: Settings, run_id: str) -> str:
    return f"{settings.ui_url}/runs/{run_id}"


def runbook_url(alertname: str) -> str:
    return f"docs/alerts.md#{RUNBOOK_ANCHORS[alertname]}"


def check_alert(f: CheckFailure, settings: Settings, now: datetime) -> dict[str, Any]:
    url = run_url(settings, f.run_id)
    figures = ", ".join(f"{k}={v}" for k, v in sorted(f.metadata.items()))
    return {
        "dedupe_key": f"check:{f.run_id}:{f.asset}:{f.check}:{f.record_id}",
        "severity": SEVERITY.get(f.severity, "error"),
        "labels": {"alertname": "StylehintAssetCheckFailed", "service": "stylehint", "asset": f.asset,
                   "check": f.check, "severity": SEVERITY.get(f.severity, "error"), "partition": f.partition},
        "annotations": {"summary": f"Check {f.check} on {f.asset} failed for partition {f.partition or '-'}",
                        "description": (f"{f.description} {figures}".strip())[:1000],
                        "run_id": f.run_id, "run_url": url, "runbook_url": runbook_url("StylehintAssetCheckFailed"),
                        "blocking": "yes: the served profiles were not replaced" if f.severity == "ERROR" else "no"},
        "generator_url": url, "starts_at": f.at, "created_at": now, "attempts": 0,
    }


def run_alert(f: RunFailure, settings: Settings, now: datetime) -> dict[str, Any]:
    url = run_url(settings, f.run_id)
    return {
        "dedupe_key": f"run:{f.run_id}",
        "severity": "error",
        "labels": {"alertname": "StylehintRunFailed", "service": "stylehint", "job": f.job_name,
                   "asset": ",".join(f.failed_steps)[:200], "check": "", "severity": "error",
                   "partition": f.partition},
        "annotations": {"summary": f"Run of {f.job_name} failed for partition {f.partition or '-'}",
                        "description": f.message or "see the run in the Dagster UI", "run_id": f.run_id,
                        "run_url": url, "runbook_url": runbook_url("StylehintRunFailed")},
        "generator_url": url, "starts_at": f.at, "created_at": now, "attempts": 0,
    }


def sensor_alert(f: SensorFailureStreak, settings: Settings, now: datetime) -> dict[str, Any]:
    url = f"{settings.ui_url}/automation"
    return {
        "dedupe_key": f"sensor:{f.sensor}:{f.first_tick_id}",
        "severity": "error",
        "labels": {"alertname": "StylehintSensorFailing", "service": "stylehint", "sensor": f.sensor,
                   "severity": "error"},
        "annotations": {"summary": f"Sensor {f.sensor} fails its ticks (since {f.started_at:%Y-%m-%d %H:%M} UTC)",
                        "description": f"{f.failed_ticks} failed tick(s) in a row; newest error: {f.error}"[:1000],
                        "runbook_url": runbook_url("StylehintSensorFailing")},
        "generator_url": url, "starts_at": f.started_at, "created_at": now, "attempts": 0,
    }


def collect(instance: dg.DagsterInstance, cursor: dict[str, Any], settings: Settings, now: datetime
            ) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """New alerts since the cursor, the next cursor, and how many run failures were covered by checks."""
    first = not cursor
    checks = dict(cursor.get("checks", {}))
    alerts: list[dict[str, Any]] = []
    for key in CHECK_KEYS:
        new_key = key.name not in checks   # a check added since the cursor: its history is not news either
        failures = failed_check_evaluations(instance, key, int(checks.get(key.name, 0)))
        if failures:
            checks[key.name] = failures[-1].record_id
        alerts += [check_alert(f, settings, now) for f in failures
                   if not (first or new_key) or now - f.at <= FIRST_TICK_LOOKBACK]
    # No cursor needed: the newest ticks are re-read, and the outbox knows each streak's first tick.
    alerts += [sensor_alert(f, settings, now) for f in failing_sensor_streaks(instance)
               if now - f.started_at <= FIRST_TICK_LOOKBACK]
    runs, run_cursor = run_failures(instance, cursor.get("runs"))
    covered = 0
    for f in runs:
        if f.covered_by_checks:
            covered += 1
        elif not first or now - f.at <= FIRST_TICK_LOOKBACK:
            alerts.append(run_alert(f, settings, now))
    return alerts, {"checks": checks, "runs": run_cursor}, covered


def deliver(store: LearningStore, settings: Settings, now: datetime, log) -> tuple[int, int, str | None]:
    """Post every unsent alert; (sent, still pending, error)."""
    with store.transaction() as conn:
        rows = outbox.pending(conn)
    if not rows:
        return 0, 0, None
    try:
        post_alerts(settings.alertmanager_url, payload(rows, now, settings.alert_active_minutes))
    except AlertmanagerDown as exc:
        with store.transaction() as conn:
            outbox.mark_failed(conn, rows, str(exc))
        log.warning(f"Alertmanager at {settings.alertmanager_url} did not take {len(rows)} alert(s): {exc}; "
                    "retrying next tick")
        return 0, len(rows), str(exc)
    with store.transaction() as conn:
        outbox.mark_sent(conn, rows, now)
    return len(rows), 0, None


def build_alerts_sensor(interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(name="failure_alerts_sensor", minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="One Alertmanager alert per failed asset check, per failed run (run failures "
                           "caused only by blocking checks are covered by the check alert) and per streak of "
                           "failed sensor ticks; retried until delivered.")
    def failure_alerts_sensor(context: dg.SensorEvaluationContext, store: LearningStore,
                              settings: dg.ResourceParam[Settings]):
        if not settings.agg_enabled:
            return dg.SkipReason(AGG_OFF)
        if not settings.alertmanager_url:
            return dg.SkipReason("STYLEHINT_ALERTMANAGER_URL is empty: alert posting is off")
        now = utcnow()
        alerts, next_cursor, covered = collect(context.instance, read_cursor(context), settings, now)
        with store.transaction() as conn:
            stored = outbox.enqueue(conn, alerts)
        context.update_cursor(dump_cursor(next_cursor))   # saved with the tick, after the outbox commit
        sent, waiting, error = deliver(store, settings, now, context.log)
        summary = (f"{stored} new failure(s) queued, {covered} run failure(s) covered by check alerts, "
                   f"{sent} alert(s) sent, {waiting} waiting")
        return dg.SkipReason(summary + (f" (Alertmanager: {error})" if error else ""))

    return failure_alerts_sensor
