"""Dagster sensors of the stylehint code location: new events, late events, alerts on failed
checks and runs (``build_sensors``), and the aggregation-run counters (``agg_runs``)."""
from __future__ import annotations

import dagster as dg

from .alerts import build_alerts_sensor
from .late_events import build_late_events_sensor
from .new_events import build_new_events_sensor


def build_sensors(interval_seconds: int) -> list[dg.SensorDefinition]:
    """The interval comes from STYLEHINT_SENSOR_INTERVAL_SECONDS (code load time)."""
    return [build_new_events_sensor(interval_seconds), build_late_events_sensor(interval_seconds),
            build_alerts_sensor(interval_seconds)]


__all__ = ["build_sensors"]
