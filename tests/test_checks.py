"""Each check of a style-hint snapshot, passing and failing on crafted data (no Dagster)."""
from dataclasses import replace
from datetime import date, datetime

import pandas as pd
import pytest

from stylehint_assets.config import Settings
from stylehint_assets.domain.coverage import coverage
from stylehint_assets.snapshot_checks import (
    CHECK_DESCRIPTIONS, PublishedFigures, gate_checks, hints_integrity, kpi_checks, newest_partition_freshness,
    style_stats_integrity,
)

KEYS = ["host", "schema_hash"]


def hints(*rows):
    return pd.DataFrame([dict(zip(["host", "schema_hash", "source", "segment_key", "preferred_style_id"], r))
                         for r in rows], columns=["host", "schema_hash", "source", "segment_key", "preferred_style_id"])


def profiles(*keys):
    return pd.DataFrame(list(keys), columns=KEYS)


GOOD = hints(("a.com", "s", "form", "senior", "x"), ("b.com", "s", "none", None, None))


def test_every_check_has_a_description_and_a_severity():
    assert all(sev in ("ERROR", "WARN") and len(desc) > 20 for sev, desc in CHECK_DESCRIPTIONS.values())
    # faults block; product targets and freshness only warn
    assert {n for n, (sev, _) in CHECK_DESCRIPTIONS.items() if sev == "ERROR"} == {
        "hints_integrity", "style_stats_integrity", "some_recommendation", "covered_share_drop", "profile_count_drop"}
    assert {n for n, (sev, _) in CHECK_DESCRIPTIONS.items() if sev == "WARN"} == {
        "coverage_kpi", "none_share_kpi", "segment_share_kpi", "newest_partition_freshness"}


def test_hints_integrity_passes_on_a_clean_snapshot():
    out = hints_integrity(GOOD, profiles(("a.com", "s"), ("b.com", "s")))
    assert out.passed and out.severity == "ERROR"


@pytest.mark.parametrize("bad, hints_frame, field", [
    ("two hints for one profile", pd.concat([GOOD, GOOD.iloc[:1]]), "duplicated_hints"),
    ("a profile without a hint", GOOD.iloc[:1], "profiles_without_hint"),
    ("unknown source", hints(("a.com", "s", "magic", None, "x"), ("b.com", "s", "none", None, None)), "bad_sources"),
    ("unknown segment", hints(("a.com", "s", "form", "ceo", "x"), ("b.com", "s", "none", None, None)), "bad_segments"),
    ("a style with source none", hints(("a.com", "s", "form", None, "x"), ("b.com", "s", "none", None, "y")),
     "preferred_source_mismatch"),
])
def test_hints_integrity_fails_on_each_violation(bad, hints_frame, field):
    out = hints_integrity(hints_frame, profiles(("a.com", "s"), ("b.com", "s")))
    assert not out.passed, bad
    assert out.metadata[field] == 1


def test_style_stats_integrity():
    assert style_stats_integrity({"form": 0, "segment": 0, "family": 0}).passed
    out = style_stats_integrity({"form": 0, "segment": 2, "family": 0})
    assert not out.passed and out.metadata["segment_violations"] == 2


def kpis(sources, **overrides):
    return {o.name: o for o in kpi_checks(coverage(list(sources)), replace(Settings(), **overrides))}


def test_kpis_pass_on_target_shares():
    # 10 profiles: 3 segment (30 %), 6 form/family, 1 none (10 %): coverage 90 %
    out = kpis(["segment"] * 3 + ["form"] * 4 + ["family"] * 2 + ["none"])
    assert all(o.passed for o in out.values())
    assert {o.severity for o in out.values()} == {"WARN"}


def test_coverage_and_none_share_fail_as_warnings():
    out = kpis(["form"] * 7 + ["none"] * 3)           # coverage 70 % < 80 %, none 30 % >= 20 %
    assert not out["coverage_kpi"].passed and not out["none_share_kpi"].passed
    assert out["coverage_kpi"].severity == out["none_share_kpi"].severity == "WARN"
    assert out["coverage_kpi"].metadata["covered_share"] == 0.7


def test_none_share_is_strictly_below_the_target():
    out = kpis(["segment"] * 3 + ["form"] * 5 + ["none"] * 2)   # exactly 20 % none
    assert out["coverage_kpi"].passed and not out["none_share_kpi"].passed


@pytest.mark.parametrize("segment, passed", [(2, False), (3, True), (4, False)])
def test_segment_share_is_a_warning_outside_25_to_35_percent(segment, passed):
    out = kpis(["segment"] * segment + ["form"] * (10 - segment))
    assert out["segment_share_kpi"].passed is passed


def test_no_profiles_pass_every_kpi():
    assert all(o.passed for o in kpis([]).values())


def test_freshness_of_the_newest_partition():
    as_of, now = date(2025, 3, 31), datetime(2026, 1, 1)
    # a past day is judged at the end of that day, so recomputing it later gives the same answer
    assert newest_partition_freshness(datetime(2025, 3, 31, 2), as_of, now, 36).passed
    stale = newest_partition_freshness(datetime(2025, 3, 30, 11), as_of, now, 36)
    assert not stale.passed and stale.severity == "WARN" and stale.metadata["lag_hours"] == 37.0
    # today is judged at the time of the run
    today = newest_partition_freshness(datetime(2026, 1, 1, 9), date(2026, 1, 1), datetime(2026, 1, 1, 10), 1)
    assert today.passed and today.metadata["lag_hours"] == 1.0
    assert not newest_partition_freshness(None, as_of, now, 36).passed


AS_OF = date(2025, 3, 31)


def gate(sources, published=None, **overrides):
    return {o.name: o for o in gate_checks(coverage(list(sources)), AS_OF, published, replace(Settings(), **overrides))}


def served(profiles_, covered, as_of=date(2025, 3, 30)):
    return PublishedFigures(as_of, profiles_, covered)


def test_gate_checks_are_blocking_errors():
    out = gate(["form"], served(1, 1))
    assert set(out) == {"some_recommendation", "covered_share_drop", "profile_count_drop"}
    assert {o.severity for o in out.values()} == {"ERROR"} and all(o.passed for o in out.values())


def test_first_publish_passes_the_regression_checks():
    out = gate(["form"] * 2 + ["none"] * 8)        # 20 % coverage, nothing served yet
    assert all(o.passed for o in out.values())
    assert out["covered_share_drop"].metadata["compared_with"] == "nothing published yet"


def test_a_snapshot_older_than_the_served_one_has_nothing_to_regress_from():
    out = gate(["none"] * 9, served(100, 100, as_of=date(2025, 4, 2)))
    assert all(o.passed for o in out.values())
    assert "2025-04-02 is served" in out["profile_count_drop"].metadata["compared_with"]


@pytest.mark.parametrize("covered_now, passed", [
    (80, True),    # 90 % -> 80 %: exactly 10 points, allowed
    (81, True),    # 9 points
    (79, False),   # 11 points: blocked
    (95, True),    # a rise
])
def test_covered_share_drop_over_and_under_the_limit(covered_now, passed):
    out = gate(["form"] * covered_now + ["none"] * (100 - covered_now), served(100, 90))
    assert out["covered_share_drop"].passed is passed
    assert out["covered_share_drop"].metadata["drop_points"] == pytest.approx(90 - covered_now)


def test_covered_share_drop_limit_is_the_setting():
    sources = ["form"] * 85 + ["none"] * 15            # 90 % -> 85 %
    assert gate(sources, served(100, 90))["covered_share_drop"].passed
    assert not gate(sources, served(100, 90), gate_max_coverage_drop=4)["covered_share_drop"].passed


@pytest.mark.parametrize("profiles_now, passed", [(50, True), (49, False), (51, True), (200, True)])
def test_profile_count_drop_over_and_under_the_limit(profiles_now, passed):
    out = gate(["form"] * profiles_now, served(100, 100))
    assert out["profile_count_drop"].passed is passed
    assert out["profile_count_drop"].metadata["drop_percent"] == pytest.approx(100 - profiles_now)
    assert not gate(["form"] * 80, served(100, 100), gate_max_profile_drop=10)["profile_count_drop"].passed


@pytest.mark.parametrize("sources", [[], ["none"] * 5])
def test_no_recommendation_at_all_blocks_replacing_a_served_snapshot(sources):
    out = gate(sources, served(10, 9))
    assert not out["some_recommendation"].passed
    assert out["some_recommendation"].metadata["with_recommendation"] == 0
    # the first days of a history may have no candidate yet: nothing served with one, nothing to protect
    assert gate(sources, None)["some_recommendation"].passed
    assert gate(sources, served(10, 0))["some_recommendation"].passed


def test_a_day_just_under_the_coverage_target_publishes_with_a_warning():
    sources = ["form"] * 40 + ["segment"] * 30 + ["family"] * 9 + ["none"] * 21     # 79 % covered
    blocking = [o for o in gate(sources, served(100, 81)).values() if not o.passed]
    warnings = {o.name for o in kpi_checks(coverage(sources), Settings()) if not o.passed}
    assert blocking == [] and warnings == {"coverage_kpi", "none_share_kpi"}
