"""Tell Dagster that events arrived: a runless materialization per changed event day.

Ingest writes `autofill_events` outside any run. Reporting each day it changed (new events,
merged events, late arrivals) as a runless materialization of that partition lets the UI
show new data on the partition and lets downstream assets show they are behind, so a
sensor's decision to re-run a day can be traced to the ingest that caused it.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import dagster as dg

from .partitions import daily_partitions

EVENTS_ASSET = dg.AssetKey("autofill_events")


def arrival_partitions(days: Iterable[date]) -> tuple[list[str], list[str]]:
    """The changed days that are partitions, and those that are not (before the start date,
    or later than today's partition)."""
    keys = set(daily_partitions.get_partition_keys())
    changed = sorted({d.isoformat() for d in days})
    return [k for k in changed if k in keys], [k for k in changed if k not in keys]


def report_event_arrival(instance: dg.DagsterInstance, days: Iterable[date], source: str) -> list[str]:
    """Report one runless materialization of `autofill_events` per changed partition; returns
    the partition keys reported."""
    reported, _outside = arrival_partitions(days)
    for key in reported:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=EVENTS_ASSET, partition=key,
            description="events ingested outside a run (stylehint ingest)",
            metadata={"source": source, "reported_by": "stylehint ingest"},
        ))
    return reported
