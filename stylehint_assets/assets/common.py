"""Shared asset header fields and helpers for window reads and metadata."""

from datetime import date, timedelta, timezone

import dagster as dg
import pandas as pd

OWNERS = ["team:data-platform"]
# Daily assets read a day's events; one run can cover a whole range of days (backfills, windows).
DAILY_BACKFILL = dg.BackfillPolicy.single_run()
RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last event day of this run's partition range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def window_days(context: dg.AssetExecutionContext, upstream: str) -> tuple[date, date]:
    """The lookback window, as the partition mapping resolved it (clipped at the start date)."""
    window = context.asset_partitions_time_window_for_input(upstream)
    return window.start.date(), (window.end - timedelta(days=1)).date()


def checked_window_days(context: dg.AssetExecutionContext, store, upstream: str) -> tuple[date, date]:
    """The lookback window, after bringing every day's partials up to its events
    (``window_partials``): an out-of-order backfill then reads complete days, never missing ones."""
    from ..clock import utcnow
    from ..window_partials import ensure_window_partials

    start, end = window_days(context, upstream)
    record = context.instance.get_run_record_by_id(context.run_id)
    started = record.create_timestamp.astimezone(timezone.utc).replace(tzinfo=None) if record else None
    with store.transaction() as conn:
        rebuilt = ensure_window_partials(conn, start, end, utcnow(), started)
    if rebuilt:
        context.log.warning(f"partials of {len(rebuilt)} day(s) of the window {start}..{end} were missing or older "
                            f"than their events and were rebuilt first: {', '.join(map(str, rebuilt))}")
    return start, end


def as_of_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def preview(frame: pd.DataFrame, rows: int = 10) -> dg.MarkdownMetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))
