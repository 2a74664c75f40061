"""What the sensors need to know from the store: which event days changed after their
partials were built, and what is published. Read-only, bounded by a day range.

A day is *stale* when its stored events differ from what ``daily_event_partials`` last folded
in (``daily_partition_state``): an event inserted or merged after that (``updated_at`` newer than
the recorded ``max_updated_at``), a day with events but no state row, or fewer events than
recorded (a merge moved an event's ``created_at`` to another day: the old day is stale too).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, and_, case, exists, func, or_, select

from .schema import autofill_events as ev, daily_event_partials as dp, daily_partition_state as st


@dataclass(frozen=True)
class DayBacklog:
    day: date
    events: int                   # events stored for the day now
    pending: int                  # events changed since the partials were built (or events lost to a move)
    oldest_change: datetime | None  # oldest such change (None when the day only lost events)
    newest_change: datetime | None  # newest updated_at of the day
    pending_since: int = 0        # of ``pending``, changed after the ``since`` given to stale_days

    @property
    def token(self) -> str:
        """Identifies this state of the day: the same state gives the same run key."""
        stamp = self.newest_change.strftime("%Y%m%dT%H%M%S%f") if self.newest_change else "none"
        return f"{self.events}.{stamp}"


def stale_days(conn: Connection, start: date, end: date, since: datetime | None = None) -> list[DayBacklog]:
    """Stale event days in ``start..end`` (inclusive), oldest first; ``since`` (a sensor's
    watermark) splits their changed events into already requested and new ones."""
    changed = or_(st.c.event_day.is_(None), st.c.max_updated_at.is_(None), ev.c.updated_at > st.c.max_updated_at)
    fresh = and_(changed, ev.c.updated_at > since) if since is not None else changed
    q = (
        select(
            ev.c.event_day,
            func.count().label("events"),
            func.coalesce(func.sum(case((changed, 1), else_=0)), 0).label("changed"),
            func.min(case((changed, ev.c.updated_at), else_=None)).label("oldest"),
            func.max(ev.c.updated_at).label("newest"),
            func.max(st.c.events).label("recorded"),
            func.coalesce(func.sum(case((fresh, 1), else_=0)), 0).label("fresh"),
        )
        .select_from(ev.outerjoin(st, st.c.event_day == ev.c.event_day))
        .where(ev.c.event_day.between(start, end))
        .group_by(ev.c.event_day)
    )
    out: dict[date, DayBacklog] = {}
    for day, events, changed_n, oldest, newest, recorded, fresh_n in conn.execute(q):
        lost = max(0, int(recorded or 0) - int(events))
        if changed_n or lost or (recorded is not None and recorded != events):
            out[day] = DayBacklog(day, int(events), int(changed_n) + lost, oldest, newest, int(fresh_n))
    # days whose every event moved away: a state row and no events left
    emptied = select(st.c.event_day, st.c.events).where(
        st.c.event_day.between(start, end), st.c.events > 0,
        ~exists().where(ev.c.event_day == st.c.event_day))
    for day, recorded in conn.execute(emptied):
        out[day] = DayBacklog(day, 0, int(recorded), None, None)
    return [out[d] for d in sorted(out)]


def newest_rebuild(conn: Connection, start: date, end: date) -> datetime | None:
    """When the partials of a day in ``start..end`` were last rebuilt (None: never)."""
    return conn.execute(select(func.max(st.c.materialized_at)).where(and_(st.c.event_day.between(start, end)))).scalar()


def newest_event_at(conn: Connection, start: date, end: date) -> datetime | None:
    """Newest ``created_at`` folded into the partials of ``start..end`` (for the freshness check)."""
    return conn.execute(select(func.max(dp.c.last_seen_at)).where(dp.c.event_day.between(start, end))).scalar()


def lagging_days(conn: Connection, start: date, end: date, built_since: datetime | None = None) -> list[date]:
    """Days in ``start..end`` whose partials are missing or older than their events, oldest first.

    The same rule as ``stale_days`` from two small per-day reads (the events' count and newest
    ``updated_at``, an index-only scan of ``ix_autofill_events_day_updated_at``, against the
    state rows) instead of a join per event: the window assets ask it before every read.
    Partials built at or after ``built_since`` (the run's start) count as current, so the window
    assets of one run read the same partials while events keep arriving; the next run folds them in."""
    events = {day: (int(n), newest) for day, n, newest in conn.execute(
        select(ev.c.event_day, func.count(), func.max(ev.c.updated_at))
        .where(ev.c.event_day.between(start, end)).group_by(ev.c.event_day))}
    state = {day: (int(n), newest, built) for day, n, newest, built in conn.execute(
        select(st.c.event_day, st.c.events, st.c.max_updated_at, st.c.materialized_at)
        .where(st.c.event_day.between(start, end)))}
    lagging = []
    for day in sorted(events.keys() | state.keys()):
        n, newest = events.get(day, (0, None))
        recorded, folded, built = state.get(day, (None, None, None))
        if recorded is None:
            if n:
                lagging.append(day)
        elif built_since is not None and built >= built_since:
            continue
        elif n != recorded or (n and (folded is None or newest > folded)):
            lagging.append(day)
    return lagging
