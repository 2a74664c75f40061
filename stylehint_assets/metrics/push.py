"""Pushing the run-level series to a Prometheus Pushgateway (``PROMETHEUS_PUSHGATEWAY_URL``).

What is pushed are the *durable totals* of the series that aggregation runs move
(style choices, profiles updated/rejected, runs by status, last successful publish), read
from the store, not a run's own deltas. Every push therefore carries every earlier run's
increments: a run never overwrites another run's totals, it only replaces older totals with
newer ones. The group is ``job="stylehint_aggregation", store=<hash of the store URL>`` (one
group per learning store, bounded; no per-run groups piling up in the gateway). Pushes are
serialised by a database lock, so a slow run cannot push older totals over newer ones.
A failed push logs a warning and never fails the run.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from ..config import Settings
from ..domain.counters import AGG_RUNS, PROFILES_REJECTED, PROFILES_UPDATED, STYLE_CHOICE
from ..store.counters import read_counters
from ..store.engine import safe_url
from ..store.reads import published_as_of
from .collector import LAST_SUCCESS, build_families, known_series

log = logging.getLogger(__name__)

PUSH_JOB = "stylehint_aggregation"
PUSH_LOCK_KEY = 0x53545950  # "STYP": serialises pushes of one store
RUN_LEVEL = (STYLE_CHOICE, PROFILES_UPDATED, PROFILES_REJECTED, AGG_RUNS, LAST_SUCCESS)


def grouping_key(settings: Settings) -> dict[str, str]:
    """One group per learning store: two stores pushing to one gateway never overwrite each other."""
    return {"store": hashlib.sha256(safe_url(settings.database_url).encode()).hexdigest()[:12]}


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _base(name: str) -> str:
    return name[:-len("_total")] if name.endswith("_total") else name


def push_run_series(engine: Engine, settings: Settings, timeout: float = 5.0) -> bool:
    """Push the run-level series' stored totals; returns whether the push succeeded."""
    url = settings.pushgateway_url
    if not url:
        return False
    wanted = {_base(n) for n in RUN_LEVEL}
    known = {s for s in known_series(settings) if _base(s[0]) in wanted}
    try:
        with engine.begin() as conn:  # the lock is held until the push is done
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUSH_LOCK_KEY})
            totals = read_counters(conn)
            published_at = published_as_of(conn)[1]
            families = [f for f in build_families(totals, published_at, known) if f.name in wanted]
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Fixed(families))
            push_to_gateway(url, job=PUSH_JOB, registry=registry, grouping_key=grouping_key(settings),
                            timeout=timeout)
        return True
    except Exception as exc:  # noqa: BLE001 - metrics must never fail the run
        log.warning("push to %s failed: %s", url, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return False
