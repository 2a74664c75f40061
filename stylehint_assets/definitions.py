"""The one Dagster code location of stylehint."""
from __future__ import annotations

import warnings

import dagster as dg

from resources import LearningStore, settings_from_env
from sensors import build_sensors
from sensors.agg_runs import AGG_RUN_SENSORS
from .config import Settings
from .assets import ASSETS
from .jobs import AGGREGATION_JOBS
from .schedules import six_hourly_hints

# The publish job mixes single-run daily assets with per-day window assets; Dagster then backfills
# it one partition per run, which is what we want. Its warning about that says nothing new.
warnings.filterwarnings("ignore", message="Asset job publish_style_hints materializes assets with varying")



# Every step is SQL in the learning store and takes a second or two: one process per run
# instead of one per step saves ~3 s of imports per step and the instance-database
# connections each step process opens (dagster#20325), which is what bounds backfills. The
# multiprocess executor runs independent steps (the three stats levels, the profiles) side by
# side, for a store that is slow per query rather than busy.
EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def build_definitions(store: LearningStore | None = None, settings: Settings | None = None) -> dg.Definitions:
    """The code location; tests pass their own store and settings."""
    if store is None:   # from the environment: the URL stays a variable reference (see LearningStore.from_env)
        store = LearningStore.from_env() if settings is None else LearningStore(database_url=settings.database_url)
    settings = settings or settings_from_env()
    return dg.Definitions(
        assets=ASSETS,
        jobs=AGGREGATION_JOBS,
        schedules=[six_hourly_hints],
        sensors=[*AGG_RUN_SENSORS, *build_sensors(settings.sensor_interval_seconds)],
        resources={"store": store, "settings": settings},
        # Every step is SQL in the learning store and takes a second or two: in-process (the
        # default) saves ~3 s of imports per step and the instance-database connections each step
        # process opens (dagster#20325), which is what bounds backfills.
        executor=EXECUTORS[settings.executor],
    )


defs = build_definitions()
