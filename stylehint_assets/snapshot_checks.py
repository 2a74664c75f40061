"""Checks of a style-hint snapshot: the publish gate, the product KPIs of SPEC 7, freshness.

The gate blocks faults, not goals. ERROR checks (they block publishing) are integrity and a
sudden regression against the published snapshot: the covered share or the profile count
falling further than a normal day moves them, or no recommendation at all. The product
targets are WARN checks: a day at 79 % coverage still publishes, and on-call is told.
Plain functions over the snapshot's figures, so they test without Dagster; the assets turn
the outcomes into ``AssetCheckResult``s.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from .config import Settings
from .domain.ranking import SOURCES
from .domain.segments import SEGMENTS


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # "ERROR" or "WARN"
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


CHECK_DESCRIPTIONS = {
    "hints_integrity": ("ERROR", "One hint per profile of the window, sources and segments in their sets, "
                                 "a preferred style exactly when the source is not none."),
    "style_stats_integrity": ("ERROR", "No negative counts and helpful + unhelpful <= total_runs at every level."),
    "some_recommendation": ("ERROR", "At least one profile has a recommendation when the served snapshot has "
                                     "one (an empty snapshot has none; passes when nothing is published yet)."),
    "covered_share_drop": ("ERROR", "The covered share falls by at most STYLEHINT_GATE_MAX_COVERAGE_DROP points "
                                    "against the published snapshot (passes when nothing is published yet)."),
    "profile_count_drop": ("ERROR", "The profile count falls by at most STYLEHINT_GATE_MAX_PROFILE_DROP percent "
                                    "against the published snapshot (passes when nothing is published yet)."),
    "coverage_kpi": ("WARN", "Share of profiles with a recommendation (form + segment + family) meets the target."),
    "none_share_kpi": ("WARN", "Share of profiles without a recommendation stays below the target."),
    "segment_share_kpi": ("WARN", "Share of profiles served from the segment level lies in the target range."),
    # WARN, not ERROR: hints from slightly old events are still the best there is; on-call is told.
    "newest_partition_freshness": ("WARN", "The newest event folded into the snapshot is at most "
                                           "STYLEHINT_FRESHNESS_MAX_LAG_HOURS old at the end of the as-of day "
                                           "(at the time of the run, for today): events keep arriving."),
}


def _outcome(name: str, passed: bool, **metadata: Any) -> CheckOutcome:
    severity, description = CHECK_DESCRIPTIONS[name]
    return CheckOutcome(name, bool(passed), severity, description, metadata)


def hints_integrity(hints: pd.DataFrame, profiles: pd.DataFrame) -> CheckOutcome:
    keys = ["host", "schema_hash"]
    duplicated = int(hints.duplicated(keys).sum())
    hinted = set(map(tuple, hints[keys].to_numpy().tolist()))
    missing = [k for k in map(tuple, profiles[keys].to_numpy().tolist()) if k not in hinted]
    bad_source = int((~hints["source"].isin(SOURCES)).sum())
    bad_segment = int((hints["segment_key"].notna() & ~hints["segment_key"].isin(SEGMENTS)).sum())
    mismatched = int((hints["preferred_style_id"].isna() != (hints["source"] == "none")).sum())
    return _outcome("hints_integrity", not (duplicated or missing or bad_source or bad_segment or mismatched),
                    duplicated_hints=duplicated, profiles_without_hint=len(missing), bad_sources=bad_source,
                    bad_segments=bad_segment, preferred_source_mismatch=mismatched)


def hints_integrity_counts(violations: dict[str, int]) -> CheckOutcome:
    """``hints_integrity`` from counts made in the database (``store.hint_choice.integrity_violations``);
    a duplicated hint cannot exist there (the primary key is the profile)."""
    return _outcome("hints_integrity", not any(violations.values()), duplicated_hints=0, **violations)


def style_stats_integrity(violations: dict[str, int]) -> CheckOutcome:
    return _outcome("style_stats_integrity", not any(violations.values()),
                    **{f"{level}_violations": n for level, n in violations.items()})


@dataclass(frozen=True)
class PublishedFigures:
    """The served snapshot the gate compares with: its day, profiles and profiles with a recommendation."""
    as_of: date
    profiles: int
    covered: int

    @property
    def covered_share(self) -> float:
        return self.covered / self.profiles if self.profiles else 0.0


def gate_checks(cov: dict[str, Any], as_of: date, published: PublishedFigures | None,
                settings: Settings) -> list[CheckOutcome]:
    """The blocking regression gate over a snapshot's coverage (``domain.coverage.coverage``).

    Measured against the published snapshot only when this one could replace it
    (``published.as_of <= as_of``): the first publish, and a backfilled day older than what is
    served, have nothing to regress from (early days of a history may have no candidate yet)."""
    profiles, covered_share = int(cov["profiles"]), float(cov["covered_share"])
    recommended = profiles - int(cov.get("none", 0))
    if published is None or published.as_of > as_of:
        reason = ("nothing published yet" if published is None
                  else f"snapshot {published.as_of} is served; {as_of} would not replace it")
        return [_outcome(name, True, compared_with=reason, profiles=profiles, with_recommendation=recommended)
                for name in ("some_recommendation", "covered_share_drop", "profile_count_drop")]
    drop_points = (published.covered_share - covered_share) * 100
    drop_percent = (published.profiles - profiles) / published.profiles * 100 if published.profiles else 0.0
    compared = {"compared_with": str(published.as_of)}
    return [
        _outcome("some_recommendation", recommended > 0 or published.covered == 0, **compared, profiles=profiles,
                 with_recommendation=recommended, published_with_recommendation=published.covered),
        _outcome("covered_share_drop", drop_points <= settings.gate_max_coverage_drop, **compared,
                 published_covered_share=round(published.covered_share, 4), covered_share=round(covered_share, 4),
                 drop_points=round(drop_points, 2), max_drop_points=settings.gate_max_coverage_drop),
        _outcome("profile_count_drop", drop_percent <= settings.gate_max_profile_drop, **compared,
                 published_profiles=published.profiles, profiles=profiles,
                 drop_percent=round(drop_percent, 2), max_drop_percent=settings.gate_max_profile_drop),
    ]


def kpi_checks(cov: dict[str, Any], settings: Settings) -> list[CheckOutcome]:
    """The product targets (WARN) over a snapshot's coverage (``domain.coverage.coverage``).
    With no profiles there is nothing to measure, and every KPI passes (the gate stops it)."""
    empty = cov["profiles"] == 0
    lo, hi = settings.kpi_segment_range
    figures = {"profiles": cov["profiles"], "covered_share": round(cov["covered_share"], 4),
               "none_share": round(cov["none_share"], 4), "segment_share": round(cov["segment_share"], 4)}
    return [
        _outcome("coverage_kpi", empty or cov["covered_share"] >= settings.kpi_min_coverage,
                 target=f">= {settings.kpi_min_coverage}", **figures),
        _outcome("none_share_kpi", empty or settings.kpi_max_none >= 1 or cov["none_share"] < settings.kpi_max_none,
                 target=f"< {settings.kpi_max_none}", **figures),
        _outcome("segment_share_kpi", empty or lo <= cov["segment_share"] <= hi, target=f"{lo}-{hi}", **figures),
    ]


def newest_partition_freshness(newest_event_at: datetime | None, as_of: date, now: datetime,
                               max_lag_hours: int) -> CheckOutcome:
    """Lag of the newest event behind the end of day ``as_of`` (or ``now`` when earlier), so a
    past day's result stays reproducible and today's measures real staleness."""
    reference = min(now, datetime.combine(as_of + timedelta(days=1), time()))
    if newest_event_at is None:
        return _outcome("newest_partition_freshness", False, newest_event_at="none in the window",
                        max_lag_hours=max_lag_hours, reference=reference.isoformat())
    lag_hours = (reference - newest_event_at).total_seconds() / 3600
    return _outcome("newest_partition_freshness", lag_hours <= max_lag_hours,
                    newest_event_at=newest_event_at.isoformat(), lag_hours=round(lag_hours, 2),
                    max_lag_hours=max_lag_hours, reference=reference.isoformat())
