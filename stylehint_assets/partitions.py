"""Daily partitions keyed by event day (UTC) and the lookback window mapping (SPEC 3)."""
from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from .config import Settings

_settings = Settings.from_env()
START_DATE = _settings.start_date
LOOKBACK_DAYS = _settings.lookback_days

# end_offset=1 makes today's partition exist, so the six-hourly run can refresh it.
daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE.isoformat(), end_offset=1, timezone="UTC")

# As of D: the upstream days D-(L-1)..D (clipped at START_DATE).
lookback_window = dg.TimeWindowPartitionMapping(start_offset=-(LOOKBACK_DAYS - 1))


def window_for(as_of: date, start_date: date = START_DATE, lookback_days: int = LOOKBACK_DAYS) -> tuple[date, date]:
    """The event days of the snapshot as of ``as_of``, outside Dagster: what ``lookback_window``
    resolves to (D-(L-1)..D, clipped at the first partition); assets read it from the mapping."""
    return max(start_date, as_of - timedelta(days=lookback_days - 1)), as_of
