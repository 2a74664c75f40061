"""Style experiments on crafted explore counts: Wilson intervals and the beaten-with-confidence rule."""
import pytest

from stylehint_assets.domain.experiments import experiment_report, holm_adjust
from stylehint_assets.domain.intervals import two_proportion_z_test


def counts(family, segment, **styles):
    return [{"host_family": family, "segment_key": segment, "gen_style_id": s, "helpful": h, "runs": n}
            for s, (h, n) in styles.items()]


def test_preferred_beaten_with_confidence():
    (e,) = experiment_report(counts("lever", "senior", a=(40, 200), b=(90, 200), c=(45, 200)),
                             {("lever", "senior"): "a"})
    assert e["beaten"] and e["challenger"] == "b"
    raw_b = two_proportion_z_test(90, 200, 40, 200)[1]
    raw_c = two_proportion_z_test(45, 200, 40, 200)[1]
    assert e["p_value"] == pytest.approx(2 * raw_b)           # Holm: smallest p times the 2 challengers
    assert e["diff"] == pytest.approx(0.25) and e["diff_low"] > 0
    assert raw_c > 0.05
    styles = {s["gen_style_id"]: s for s in e["styles"]}
    assert (styles["a"]["wilson_low"], styles["a"]["wilson_high"]) == pytest.approx((0.1505, 0.2609), abs=1e-4)   # 40/200, by hand
    assert styles["a"]["preferred"] and not styles["b"]["preferred"]
    assert [s["gen_style_id"] for s in e["styles"]] == ["b", "c", "a"]


def test_a_higher_ratio_alone_is_not_enough():
    # b looks better (0.30 vs 0.25) but 60 runs each cannot tell: not beaten
    (e,) = experiment_report(counts("lever", "senior", a=(15, 60), b=(18, 60)), {("lever", "senior"): "a"})
    assert not e["beaten"] and e["challenger"] == "b" and e["p_value"] > 0.05
    assert e["diff_low"] < 0 < e["diff_high"]


def test_multiple_challengers_are_corrected():
    # one-sided p ~ 0.03 against the preferred style: significant alone, not after Holm over 4 challengers
    data = counts("ashby", "intern", a=(50, 150), b=(66, 150), c=(50, 150), d=(50, 150), e=(50, 150))
    raw = two_proportion_z_test(66, 150, 50, 150)[1]
    assert 0.01 < raw < 0.05
    (e,) = experiment_report(data, {("ashby", "intern"): "a"})
    assert not e["beaten"] and e["p_value"] == pytest.approx(min(1.0, 4 * raw))


def test_insufficient_and_missing_preferred():
    report = experiment_report(counts("workday", "junior", a=(3, 5), b=(20, 30)) + counts("bamboohr", "default", a=(1, 2)),
                               {("workday", "junior"): "a", ("greenhouse", "intern"): "a"})
    by_key = {(e["host_family"], e["segment_key"]): e for e in report}
    assert by_key[("workday", "junior")]["decision"].startswith("insufficient") and not by_key[("workday", "junior")]["beaten"]
    assert by_key[("bamboohr", "default")]["preferred_style_id"] is None
    assert by_key[("greenhouse", "intern")]["styles"] == []


def test_holm_adjust():
    assert holm_adjust({"x": 0.01, "y": 0.04, "z": 0.03}) == pytest.approx({"x": 0.03, "z": 0.06, "y": 0.06})
