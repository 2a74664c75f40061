"""How old the served snapshot may get: one window for Dagster and for Prometheus.

Hints are published every six hours; two runs in a row without a publish make the served
snapshot stale. The asset's ``FreshnessPolicy`` and the ``StylehintNoRecentPublish`` alert in
ops/prometheus/rules both use ``PUBLISH_MAX_AGE_HOURS`` (tests/test_publish_freshness.py keeps
the rule file in step with it).
"""
from __future__ import annotations

from datetime import timedelta

import dagster as dg

PUBLISH_MAX_AGE_HOURS = 12

# Dagster judges freshness by the asset's newest materialization, whatever its partition;
# served_form_profiles materializes only when it publishes, so a backfill of an old day (which
# publishes nothing) cannot make the served snapshot look fresh.
served_snapshot_freshness = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=PUBLISH_MAX_AGE_HOURS))
