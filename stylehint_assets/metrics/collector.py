"""A prometheus-client collector over the kept totals: ``metric_counters`` and ``publish_state``.

Each scrape reads the small ``metric_counters`` table (one row per series, kept up to date in
the same transactions as the work it counts) and one ``publish_state`` row; it never scans
events. A short cache absorbs several scrapers hitting the exporter at once.

Series known to exist are exported at 0 before their first increment (``known_series``), so
``rate()``/``increase()`` see the first increment and ratio alerts work from the first scrape.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from itertools import product

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from ..config import Settings
from ..domain.counters import (
    AGG_RUNS, EDIT_CHARS, MANUAL_PUBLISHES, POLICY, PROFILE_EDIT_CHARS, PROFILE_EDITED_RUNS, PROFILE_RUNS, PROFILE_TIME,
    PROFILE_USAGE, PROFILES_REJECTED, PROFILES_UPDATED, RUNS, STYLE_CHOICE, TIME_MS, HISTOGRAM_BOUNDS,
)
from ..domain.events import POLICIES, PROFILE_SOURCES, STATUSES
from ..domain.hosts import OTHER
from ..domain.impact import GAUGE_HELP as IMPACT_HELP, gauge_samples as impact_gauge_samples
from ..domain.segments import SEGMENTS
from ..store.alerts import ALERT_SEVERITIES, ALERTS_SENT
from ..store.counters import read_counters
from ..store.reads import published_as_of

LAST_SUCCESS = "applylens_autofill_agg_last_success_timestamp_seconds"
AGG_STATUSES = ("ok", "err")

# name -> (help, label names); the order of the label names is the exposition order.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    STYLE_CHOICE: ("Profiles per published snapshot by the level that chose their style (+1 per profile "
                   "per publish, none included).", ("source", "host_family", "segment_key")),
    AGG_RUNS: ("Aggregation runs (publish_style_hints, refresh_daily_partials) by outcome.", ("status",)),
    MANUAL_PUBLISHES: ("Stored snapshots re-published by hand (`stylehint publish --as-of D`).", ()),
    PROFILES_UPDATED: ("Served profiles written by published snapshots.", ()),
    PROFILES_REJECTED: ("Profiles kept but not served (quality guard) in published snapshots.", ()),
    RUNS: ("Autofill runs (learning events), once per event.", ("status", "host")),
    EDIT_CHARS: ("Characters users edited after autofill (effective edit_chars).", ("host",)),
    POLICY: ("Autofill runs by bandit policy, once per event.", ("policy", "host_family", "segment_key")),
    PROFILE_USAGE: ("Autofill runs by whether and which profile was applied, once per event.",
                    ("profile_used", "profile_source")),
    PROFILE_RUNS: ("Autofill runs by outcome with vs without a profile, once per event.",
                   ("profile_used", "profile_source", "status")),
    PROFILE_EDIT_CHARS: ("Characters edited after autofill, with vs without a profile.", ("profile_used", "profile_source")),
    PROFILE_EDITED_RUNS: ("Runs counted in applylens_autofill_profile_edit_chars_total (the mean's denominator).",
                          ("profile_used", "profile_source")),
    ALERTS_SENT: ("Alerts Alertmanager accepted from failure_alerts_sensor (failed checks, runs, sensor ticks).",
                  ("severity",)),
}
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    TIME_MS: ("Time to fill a form (duration_ms of learning events).", ("host",)),
    PROFILE_TIME: ("Time to fill a form in seconds, with vs without a profile.", ("profile_used", "profile_source")),
}
HISTOGRAM_PARTS = {h + part: h for h in HISTOGRAMS for part in ("_bucket", "_count", "_sum")}

Series = tuple[str, tuple[tuple[str, str], ...]]


def host_labels(settings: Settings) -> list[str]:
    """Every value the bounded ``host`` label can take (see ``domain.counters.host_label``)."""
    return sorted({*settings.metrics_hosts, *(suffixes[0] for suffixes in settings.families.values()), OTHER})


def family_labels(settings: Settings) -> list[str]:
    return sorted({*settings.families, OTHER})


def known_series(settings: Settings) -> set[Series]:
    """Series exported at 0 before their first increment: only label sets the counting code can
    produce (no ``source="segment"`` for family ``other``, no ``host_family=""``), so a dashboard
    never shows a combination that cannot happen."""
    families, segments = family_labels(settings), ("", *SEGMENTS)
    ats = [f for f in families if f != OTHER]
    out: set[Series] = set()

    def add(name: str, **labels: str) -> None:
        out.add((name, tuple(sorted(labels.items()))))

    for family, segment in product(families, segments):
        add(STYLE_CHOICE, source="form", host_family=family, segment_key=segment)
        add(STYLE_CHOICE, source="none", host_family=family, segment_key=segment)
    for family, segment in product(ats, segments):
        add(STYLE_CHOICE, source="family", host_family=family, segment_key=segment)
        if segment:
            add(STYLE_CHOICE, source="segment", host_family=family, segment_key=segment)
    for status in AGG_STATUSES:
        add(AGG_RUNS, status=status)
    add(PROFILES_UPDATED)
    add(PROFILES_REJECTED)
    add(MANUAL_PUBLISHES)
    for severity in ALERT_SEVERITIES:
        add(ALERTS_SENT, severity=severity)
    for host in host_labels(settings):
        for status in STATUSES:
            add(RUNS, status=status, host=host)
        add(EDIT_CHARS, host=host)
        add(TIME_MS + "_count", host=host)
        add(TIME_MS + "_sum", host=host)
    for policy, family, segment in product(POLICIES, families, segments):
        add(POLICY, policy=policy, host_family=family, segment_key=segment)
    for used, source in product(("true", "false"), ("", *PROFILE_SOURCES)):
        add(PROFILE_USAGE, profile_used=used, profile_source=source)
        add(PROFILE_EDIT_CHARS, profile_used=used, profile_source=source)
        add(PROFILE_EDITED_RUNS, profile_used=used, profile_source=source)
        add(PROFILE_TIME + "_count", profile_used=used, profile_source=source)
        add(PROFILE_TIME + "_sum", profile_used=used, profile_source=source)
        for status in STATUSES:
            add(PROFILE_RUNS, profile_used=used, profile_source=source, status=status)
    return out


def _epoch(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def build_families(totals: Iterable[tuple[str, dict[str, str], float]], published_at: datetime | None,
                   known: set[Series]) -> list[Metric]:
    """Metric families from stored totals, with the known series at 0 where nothing is stored yet."""
    values: dict[Series, float] = {series: 0.0 for series in known}
    for name, labels, value in totals:
        if name in COUNTERS or name in HISTOGRAM_PARTS:
            values[(name, tuple(sorted(labels.items())))] = float(value)

    out: list[Metric] = []
    for name, (doc, label_names) in COUNTERS.items():
        family = CounterMetricFamily(name, doc, labels=label_names)
        for (series_name, labels), value in sorted(values.items()):
            if series_name == name:
                as_dict = dict(labels)
                family.add_metric([as_dict.get(k, "") for k in label_names], value)
        out.append(family)

    for name, (doc, label_names) in HISTOGRAMS.items():
        histogram = HistogramMetricFamily(name, doc, labels=label_names)
        keys = sorted({tuple((k, v) for k, v in labels if k != "le")
                       for series_name, labels in values if HISTOGRAM_PARTS.get(series_name) == name})
        for key in keys:
            # Stored buckets are cumulative already (an observation moves every bucket with le >= it).
            buckets = [(le, values.get((name + "_bucket", tuple(sorted((*key, ("le", le))))), 0.0))
                       for le in HISTOGRAM_BOUNDS[name]]
            as_dict = dict(key)
            histogram.add_metric([as_dict.get(k, "") for k in label_names], buckets,
                                 values.get((name + "_sum", key), 0.0))
        out.append(histogram)

    gauge = GaugeMetricFamily(LAST_SUCCESS, "End of the last successful publish of a snapshot (Unix seconds; "
                                            "0 until the first publish).")
    gauge.add_metric([], _epoch(published_at))
    out.append(gauge)
    return out


def impact_families(samples: Iterable[tuple[str, dict[str, str], float]]) -> list[Metric]:
    """Gauges from the newest ``learning_impact`` partition (``domain.impact.gauge_samples``)."""
    families: dict[str, GaugeMetricFamily] = {}
    for name, labels, value in samples:
        if name not in families:
            base = name.removesuffix("_low").removesuffix("_high")
            doc = IMPACT_HELP.get(base, IMPACT_HELP.get(name, ""))
            if name != base:
                doc = f"{'Lower' if name.endswith('_low') else 'Upper'} end of the 95 % interval of {base}."
            families[name] = GaugeMetricFamily(name, doc, labels=sorted(labels))
        families[name].add_metric([labels[k] for k in sorted(labels)], value)
    return list(families.values())


def read_impact(conn, settings: Settings) -> list[Metric]:
    from ..store.impact import impact_as_of, newest_impact_as_of

    as_of = newest_impact_as_of(conn)
    rows = impact_as_of(conn, as_of) if as_of else []
    epoch = datetime(as_of.year, as_of.month, as_of.day, tzinfo=timezone.utc).timestamp() if as_of else None
    return impact_families(impact_gauge_samples(rows, epoch, PROFILE_SOURCES))


class StoreCollector(Collector):
    """Reads the kept totals at most once per ``cache_seconds``; a store error fails the scrape
    (Prometheus records ``up == 0``) rather than exporting zeros that would look like resets."""

    def __init__(self, engine: Engine, settings: Settings, cache_seconds: float = 1.0) -> None:
        self.engine = engine
        self.settings = settings
        self.known = known_series(settings)
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def read(self) -> list[Metric]:
        with self.engine.connect() as conn:
            totals = read_counters(conn)
            published_at = published_as_of(conn)[1]
            impact = read_impact(conn, self.settings)
        return build_families(totals, published_at, self.known) + impact

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self.read())
            families = self._cached[1]
        yield from families
