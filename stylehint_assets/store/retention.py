"""Snapshot retention: per-day snapshot rows older than STYLEHINT_SNAPSHOT_RETENTION_DAYS go.

The daily partials (``daily_*``) are inputs, not snapshots, and are kept. Always kept: the
published snapshot (the served view assembles its hints from that day's stats tables) and
the snapshots of the current window, so a re-run of any day in it finds its neighbours.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, delete

from .schema import (
    family_style_stats, form_profile_snapshots, form_style_stats, learning_impact, segment_style_stats,
    snapshot_basis, style_hint_settings, style_hints,
)

SNAPSHOT_TABLES = (form_profile_snapshots, style_hints, style_hint_settings, form_style_stats,
                   segment_style_stats, family_style_stats, learning_impact, snapshot_basis)


def retention_cutoff(newest: date, retention_days: int, lookback_days: int) -> date:
    """Snapshots as of a day before this go: ``retention_days`` back from ``newest``, never
    inside the lookback window that ends on ``newest``."""
    return newest - timedelta(days=max(retention_days, lookback_days - 1))


def prune_snapshots(conn: Connection, newest: date, published: date | None, retention_days: int,
                    lookback_days: int) -> dict[str, int]:
    """Delete snapshot rows as of a day before the cutoff, except the published day; returns
    rows deleted per table (in ``conn``'s transaction)."""
    cutoff = retention_cutoff(newest, retention_days, lookback_days)
    out = {}
    for table in SNAPSHOT_TABLES:
        where = [table.c.as_of < cutoff]
        if published is not None:
            where.append(table.c.as_of != published)
        out[table.name] = conn.execute(delete(table).where(*where)).rowcount
    return out
