"""Daily partitions keyed by event day (UTC) and the lookback window mapping (SPEC 3)."""
from __future__ import annotations

import dagster as dg

from .config import Settings

_settings = Settings.from_env()
START_DATE = _settings.start_date
LOOKBACK_DAYS = _settings.lookback_days

# end_offset=1 makes today's partition exist, so the six-hourly run can refresh it.
daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE.isoformat(), end_offset=1, timezone="UTC")

# As of D: the upstream days D-(L-1)..D (clipped at START_DATE).
lookback_window = dg.TimeWindowPartitionMapping(start_offset=-(LOOKBACK_DAYS - 1))
