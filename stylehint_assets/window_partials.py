"""Window reads never see missing or outdated day partials.

A job backfill runs one partition per run in no order across days (dagster#11962), so the
snapshot of D can start before D-1..D-(L-1) have their partials. Before a window asset reads
its days it asks ``daily_partition_state`` (what each day's partials folded in) which days lag
behind their events, and rebuilds those days' partials with the functions the daily assets
use, in one transaction. Rebuilding all three kinds together keeps them in step: the state row
is written by the event partials, and the field-map and impact partials are built alongside.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from .store import aggregates, impact
from .store.backlog import lagging_days


def day_ranges(days: list[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as (first, last) ranges: one rebuild per range."""
    start = prev = None
    for day in sorted(days):
        if prev is not None and day == prev + timedelta(days=1):
            prev = day
            continue
        if start is not None:
            yield start, prev
        start = prev = day
    if start is not None:
        yield start, prev


def ensure_window_partials(conn: Connection, start: date, end: date, now: datetime,
                           run_started: datetime | None = None) -> list[date]:
    """Rebuild the partials of every day in ``start..end`` whose partials are missing or older
    than its events (partials built since ``run_started`` count as current); returns those days."""
    lagging = lagging_days(conn, start, end, run_started)
    for first, last in day_ranges(lagging):
        aggregates.rebuild_daily_event_partials(conn, first, last, now)
        aggregates.rebuild_daily_field_map_counts(conn, first, last)
        impact.rebuild_daily_impact_partials(conn, first, last)
    return lagging
