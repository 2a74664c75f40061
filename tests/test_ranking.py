"""SPEC 5: fallback levels and every ranking tie-break, without a database."""
import pytest

from fractions import Fraction

from stylehint_assets.domain.ranking import (
    PRIOR_RUNS, StyleStat, Thresholds, best_style, choose_hint, profile_segment, with_prior,
)


def S(style, runs, helpful, edit_sum=0, edit_count=0, unhelpful=0):
    return StyleStat(style, runs, helpful, unhelpful, edit_sum, edit_count)


def test_highest_helpful_ratio_wins():
    assert best_style([S("a", 10, 5), S("b", 10, 6)]).gen_style_id == "b"


def test_ratio_tie_lowest_mean_edit_wins():
    assert best_style([S("a", 10, 5, 300, 3), S("b", 20, 10, 100, 2)]).gen_style_id == "b"


def test_null_edit_ranks_after_any_number():
    assert best_style([S("a", 10, 5), S("b", 10, 5, 9000, 1)]).gen_style_id == "b"


def test_then_most_runs():
    assert best_style([S("a", 10, 5, 10, 1), S("b", 20, 10, 40, 4)]).gen_style_id == "b"


def test_then_alphabetically_first():
    assert best_style([S("zeta", 10, 5), S("alpha", 10, 5)]).gen_style_id == "alpha"


def test_exact_ratio_comparison_not_float():
    # 1/3 and 2/6 are equal ratios: the tie-break (more runs) decides, not float noise.
    assert best_style([S("a", 3, 1), S("b", 6, 2)]).gen_style_id == "b"


def test_form_level_first():
    c = choose_hint("greenhouse", "senior", [S("f", 5, 1)], [S("s", 50, 40)], [S("g", 100, 90)])
    assert (c.source, c.preferred.gen_style_id) == ("form", "f")


def test_segment_when_form_has_too_few_runs():
    c = choose_hint("greenhouse", "senior", [S("f", 4, 4)], [S("s", 5, 2), S("t", 4, 4)], [S("g", 100, 90)])
    assert (c.source, c.preferred.gen_style_id) == ("segment", "s")
    assert "s chosen at segment level" in c.explanation()


def test_family_when_segment_is_missing_or_short():
    c = choose_hint("lever", None, [], [S("s", 50, 40)], [S("g", 10, 1)])
    assert (c.source, c.preferred.gen_style_id) == ("family", "g")
    assert c.tried[1].skipped == "profile has no segment"
    c = choose_hint("lever", "junior", [], [S("s", 4, 4)], [S("g", 10, 1), S("h", 9, 9)])
    assert (c.source, c.preferred.gen_style_id) == ("family", "g")


def test_none_for_other_family_without_form_candidate():
    c = choose_hint("other", "senior", [S("f", 4, 4)], [S("s", 50, 40)], [S("g", 100, 90)])
    assert c.source == "none" and c.preferred is None
    assert "family is other" in c.explanation()


def test_none_when_every_level_is_short():
    c = choose_hint("ashby", "intern", [S("f", 1, 1)], [S("s", 4, 4)], [S("g", 9, 9)])
    assert c.source == "none"
    assert [t.level for t in c.tried] == ["form", "segment", "family"]


def test_thresholds_are_configurable():
    c = choose_hint("ashby", None, [S("f", 2, 2)], [], [], Thresholds(min_form_runs=2))
    assert c.source == "form"


@pytest.mark.parametrize("counts, expected", [
    ({"senior": 3, "intern": 3, "default": 1}, "intern"),
    ({"default": 5, "senior": 2}, "default"),
    ({}, None),
])
def test_profile_segment_most_frequent_then_alphabetical(counts, expected):
    assert profile_segment(counts) == expected


# --- STYLEHINT_RANKING: ratio (default, SPEC 5) vs wilson --------------------------------------

def test_wilson_prefers_the_well_supported_style_ratio_the_lucky_one():
    lucky, steady = S("lucky", 5, 3), S("steady", 500, 290)      # 0.60 on 5 runs vs 0.58 on 500
    assert best_style([lucky, steady]).gen_style_id == "lucky"
    assert best_style([lucky, steady], ranking="ratio").gen_style_id == "lucky"
    assert best_style([lucky, steady], ranking="wilson").gen_style_id == "steady"


def test_wilson_keeps_the_spec_tie_breaks():
    # equal counts give equal lower bounds: then lowest mean edit, most runs, name
    assert best_style([S("a", 10, 5, 300, 3), S("b", 10, 5, 100, 2)], ranking="wilson").gen_style_id == "b"
    assert best_style([S("zeta", 10, 5), S("alpha", 10, 5)], ranking="wilson").gen_style_id == "alpha"


def test_default_ranking_and_explanation_are_unchanged():
    args = ("greenhouse", "senior", [S("lucky", 5, 3), S("steady", 500, 290)], [], [])
    default, ratio = choose_hint(*args), choose_hint(*args, ranking="ratio")
    assert (default.source, default.preferred, default.explanation()) == (ratio.source, ratio.preferred,
                                                                         ratio.explanation())
    assert default.explanation() == ("lucky chosen at form level (this form): best helpful ratio 3/5 = 0.60 "
                                     "(no edit data) among 2 style(s) with 5+ runs.")


def test_wilson_explanation_states_the_interval():
    c = choose_hint("greenhouse", "senior", [S("lucky", 5, 3), S("steady", 500, 290)], [], [], ranking="wilson")
    assert c.preferred.gen_style_id == "steady"
    assert c.explanation() == ("steady chosen at form level (this form): best 95% Wilson lower bound 0.54 "
                               "(interval 0.54-0.62, 290/500 helpful) (no edit data) among 2 style(s) with 5+ runs.")


# --- STYLEHINT_RANKING=beta: Beta posterior mean, prior from the segment (forms) ---------------

def test_beta_reads_a_form_against_the_segment():
    # at the form, "lucky" has 4/5 and "steady" 30/60; across the segment steady is far better
    form = [S("lucky", 5, 4), S("steady", 60, 30)]
    segment = [S("lucky", 400, 120), S("steady", 900, 450)]
    assert choose_hint("greenhouse", "senior", form, segment, [], ranking="ratio").preferred.gen_style_id == "lucky"
    beta = choose_hint("greenhouse", "senior", form, segment, [], ranking="beta")
    assert beta.source == "form" and beta.preferred.gen_style_id == "steady"
    # posterior = (30 + 100 * 0.5) / (60 + 100)
    assert beta.preferred.posterior_ratio == Fraction(80, 160)
    assert "posterior helpful rate 0.50 (30/60 helpful, prior 0.50 worth 100 runs)" in beta.explanation()


def test_beta_form_prior_falls_back_to_the_family_then_to_the_form_itself():
    form = [S("a", 5, 4), S("b", 50, 25)]
    family = [S("a", 1000, 100), S("b", 1000, 600)]
    no_segment = choose_hint("lever", None, form, [], family, ranking="beta")
    assert no_segment.preferred.gen_style_id == "b"
    assert no_segment.preferred.prior_helpful == Fraction(600, 1000) * PRIOR_RUNS
    other = choose_hint("other", None, form, [], [], ranking="beta")       # no level above: own pooled ratio
    pooled = Fraction(29, 55)
    assert {s.gen_style_id: s.prior_helpful for s in other.tried[0].styles} == {"a": pooled * 100, "b": pooled * 100}


def test_beta_keeps_levels_thresholds_and_tie_breaks():
    # a style below MIN_FORM_RUNS is no candidate whatever its prior; the level choice is SPEC 5's
    c = choose_hint("greenhouse", "intern", [S("a", 4, 4)], [S("a", 10, 9), S("b", 10, 2)], [], ranking="beta")
    assert c.source == "segment" and c.preferred.gen_style_id == "a"
    # equal posteriors: lowest mean edit chars wins, then the name
    tie = best_style(with_prior([S("y", 10, 5, 300, 3), S("x", 10, 5, 100, 2)], ()), ranking="beta")
    assert tie.gen_style_id == "x"
    assert best_style(with_prior([S("zeta", 10, 5), S("alpha", 10, 5)], ()), ranking="beta").gen_style_id == "alpha"
