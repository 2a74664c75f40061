"""Every six hours (UTC): today's snapshot down to published hints; at 00:00 also yesterday's."""

from datetime import datetime, timedelta

import dagster as dg

from .config import Settings
from .jobs import publish_hints_job
from .runner import TRIGGER_TAG


def scheduled_days(tick: datetime) -> list[str]:
    days = [tick.date()]
    if tick.hour == 0:
        days.insert(0, tick.date() - timedelta(days=1))
    return [d.isoformat() for d in days]


@dg.schedule(cron_schedule="0 */6 * * *", job=publish_hints_job, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def six_hourly_hints(context: dg.ScheduleEvaluationContext):
    """Refresh today's partition (yesterday's too at midnight, so its last hours land)."""
    if not Settings.from_env().agg_enabled:
        return dg.SkipReason("COMPANION_AUTOFILL_AGG_ENABLED=0: scheduled aggregation is off")
    tick = context.scheduled_execution_time
    return [
        dg.RunRequest(run_key=f"six_hourly:{day}:{tick.isoformat()}", partition_key=day,
                      tags={TRIGGER_TAG: "schedule"})
        for day in scheduled_days(tick)
    ]
