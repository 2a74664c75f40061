"""New events: keep the published snapshot current without a run per upload.

The store is the source of truth: a day is *pending* when its events changed after its partials
were built (``stylehint_assets.store.backlog``). The cursor only holds the watermark of the
changes already requested, so "N new events since the last request" is exact across ticks and
daemon restarts. Requested: ``publish_style_hints`` for each pending day from the published
as-of day to today (newest 7 at most), down to the served profiles; the run key is the day's
state, so the same state never launches twice. Older pending days are the late-events sensor's.
Nothing is requested while aggregation runs are queued or running (a backfill, earlier requests).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import dagster as dg

from resources import LearningStore
from stylehint_assets.clock import utcnow
from stylehint_assets.config import Settings
from stylehint_assets.jobs import publish_hints_job
from stylehint_assets.store.backlog import DayBacklog, stale_days
from stylehint_assets.runner import TRIGGER_TAG
from stylehint_assets.store.reads import published_as_of

from .common import aggregation_blocked, dump_cursor, last_partition_day, read_cursor

MAX_DAYS_PER_TICK = 7


@dataclass(frozen=True)
class NewEventsPlan:
    days: list[DayBacklog]        # to request (empty: skip)
    reason: str
    watermark: datetime | None    # the cursor after this tick


def plan_new_events(backlog: list[DayBacklog], watermark: datetime | None, now: datetime,
                    threshold: int, max_age_minutes: int) -> NewEventsPlan:
    """Pure decision: request when enough events changed since the last request, or when the
    oldest unprocessed change waited long enough."""
    if not backlog:
        return NewEventsPlan([], "no unprocessed events", watermark)
    fresh = sum(d.pending_since for d in backlog)
    changes = [d.oldest_change for d in backlog if d.oldest_change is not None]
    waited = (now - min(changes)).total_seconds() / 60 if changes else 0.0
    newest = max((d.newest_change for d in backlog if d.newest_change), default=watermark)
    days = backlog[-MAX_DAYS_PER_TICK:]
    if fresh >= threshold:
        return NewEventsPlan(days, f"{fresh} new events >= threshold {threshold}", newest)
    if waited >= max_age_minutes:
        return NewEventsPlan(days, f"oldest unprocessed event waited {waited:.0f} min >= {max_age_minutes} min", newest)
    return NewEventsPlan([], f"{fresh} new events (< {threshold}); oldest waited {waited:.0f} min "
                             f"(< {max_age_minutes} min)", watermark)


def run_key(day: DayBacklog) -> str:
    return f"new_events:{day.day.isoformat()}:{day.token}"


def build_new_events_sensor(interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(name="new_events_sensor", job=publish_hints_job, minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Enough new events (STYLEHINT_NEW_EVENTS_THRESHOLD) or an old enough one "
                           "(STYLEHINT_NEW_EVENTS_MAX_AGE_MINUTES): re-run the affected days down to published hints.")
    def new_events_sensor(context: dg.SensorEvaluationContext, store: LearningStore,
                          settings: dg.ResourceParam[Settings]):
        if blocked := aggregation_blocked(context.instance, settings):
            return dg.SkipReason(blocked)
        cursor = read_cursor(context)
        watermark = datetime.fromisoformat(cursor["watermark"]) if cursor.get("watermark") else None
        now = utcnow()
        with store.connect() as conn:
            as_of, _, _ = published_as_of(conn)
            if as_of is None:
                return dg.SkipReason("nothing published yet: the first snapshot comes from the schedule, "
                                     "a backfill or `stylehint materialize`")
            last: date = last_partition_day(now)
            backlog = stale_days(conn, as_of, last, since=watermark)
        plan = plan_new_events(backlog, watermark, now, settings.new_events_threshold,
                               settings.new_events_max_age_minutes)
        if not plan.days:
            return dg.SkipReason(f"{plan.reason} (published as of {as_of})")
        context.log.info(f"new events: {plan.reason}; requesting {[d.day.isoformat() for d in plan.days]}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run_key(d), partition_key=d.day.isoformat(),
                                        tags={TRIGGER_TAG: "new_events_sensor"}) for d in plan.days],
            cursor=dump_cursor({"watermark": plan.watermark.isoformat() if plan.watermark else None}),
        )

    return new_events_sensor
