"""The store's clock: naive UTC, as every ``DateTime`` column holds it."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc_from_timestamp(ts: float) -> datetime:
    """A POSIX timestamp (Dagster's run and tick times) in the store's convention."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None)
