"""SPEC 5: fallback levels and every ranking tie-break, without a database."""
import pytest

from fractions import Fraction

from stylehint_assets.domain.ranking import (
    FIT_BOUNDS, FIT_MIN_CELLS, PRIOR_RUNS, UCB_Z, StyleStat, Thresholds, best_style, choose_hint, fitted_prior_runs,
    profile_segment, segment_preferences, with_exploration_bonus, with_prior,
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


# --- STYLEHINT_RANKING=empirical_bayes: fitted priors, untried styles of the segment compete ----

def test_fitted_prior_runs_recovers_a_known_strength():
    """Cells whose true ratios are drawn from a Beta with strength 60 around their prior ratio p."""
    import random
    rng = random.Random(7)
    k, cells = 60, []
    for _ in range(3000):
        p = rng.choice((0.3, 0.45, 0.6))
        theta = rng.betavariate(k * p, k * (1 - p))
        n = rng.randint(5, 40)
        cells.append((n, sum(rng.random() < theta for _ in range(n)), p))
    moments = (len(cells), sum((h - n * p) ** 2 / n for n, h, p in cells), sum(p * (1 - p) for _, _, p in cells),
               sum((n - 1) * p * (1 - p) for n, _, p in cells))
    assert 45 <= fitted_prior_runs(*moments) <= 80     # over rng seeds 0-7 the fit spreads 49-78


def test_fitted_prior_runs_bounds():
    low, high = FIT_BOUNDS
    assert fitted_prior_runs(FIT_MIN_CELLS - 1, 50.0, 1.0, 40.0) == PRIOR_RUNS     # too few cells to fit
    assert fitted_prior_runs(100, 20.0, 25.0, 400.0) == high                        # no spread beyond the noise
    assert fitted_prior_runs(100, 5000.0, 25.0, 400.0) == low                       # a huge spread
    assert fitted_prior_runs(100, 35.0, 25.0, 400.0) == 39                          # 400 / (35 - 25) - 1


def test_empirical_bayes_moves_a_single_candidate_form_to_its_segments_better_style():
    # the form only ever ran its fallback style (2/6); across the segment "bullets" is far better
    form = [S("narrative", 6, 2)]
    segment = [S("narrative", 600, 180), S("bullets", 300, 150), S("rare", 3, 3)]
    assert choose_hint("greenhouse", "intern", form, segment, [], ranking="ratio").preferred.gen_style_id == "narrative"
    c = choose_hint("greenhouse", "intern", form, segment, [], ranking="empirical_bayes", prior_runs=40)
    assert c.source == "form" and c.preferred.gen_style_id == "bullets"
    assert c.preferred.total_runs == 0 and c.preferred.posterior_ratio == Fraction(1, 2)
    # "rare" has 3 < MIN_SEGMENT_RUNS runs up there: not borrowed
    assert [s.gen_style_id for s in c.tried[0].borrowed] == ["bullets"]
    assert c.explanation() == (
        "bullets (not yet run on this form) chosen at form level (this form): best posterior helpful rate 0.50 "
        "(0/0 helpful, prior 0.50 worth 40 runs from the segment level (strength fitted on this snapshot)) "
        "(no edit data) among 1 style(s) with 5+ runs and 1 more from the segment level.")
    assert c.tried[0].as_json()["candidates"] == ["bullets", "narrative"]
    assert set(c.tried[0].as_json()["styles"]) == {"narrative"}       # style_stats stay the form's own


@pytest.mark.parametrize("ranking", ["empirical_bayes", "bayes_ucb"])
def test_a_segment_style_the_form_ran_under_the_threshold_competes_with_its_few_runs(ranking):
    # a busy form: 200 runs of its fallback style (0.30), and 3 explore runs of the segment's best
    form = [S("narrative", 200, 60), S("bullets", 3, 1), S("rare", 2, 2)]
    segment = [S("narrative", 600, 180), S("bullets", 300, 150), S("rare", 3, 3)]
    assert choose_hint("greenhouse", "intern", form, segment, []).preferred.gen_style_id == "narrative"
    c = choose_hint("greenhouse", "intern", form, segment, [], ranking=ranking, prior_runs=40)
    assert (c.source, c.preferred.gen_style_id, c.preferred.total_runs) == ("form", "bullets", 3)
    assert c.preferred.posterior_ratio - c.preferred.bonus == (1 + 40 * Fraction(1, 2)) / (3 + 40)   # its runs count
    # "rare" has 3 < MIN_SEGMENT_RUNS runs up there: not borrowed, whatever the form's 2/2
    assert [s.gen_style_id for s in c.tried[0].borrowed] == ["bullets"]
    assert "bullets (only 3 run(s) on this form) chosen at form level" in c.explanation()
    assert c.tried[0].as_json()["candidates"] == ["bullets", "narrative"]
    # with few runs the prior decides; with 5+ it is the form's own candidate, not borrowed
    own = choose_hint("greenhouse", "intern", [S("narrative", 200, 60), S("bullets", 5, 0)], segment, [],
                      ranking=ranking, prior_runs=40)
    assert own.tried[0].borrowed == () and own.preferred.gen_style_id == "bullets"   # (0 + 20) / 45 > 0.3


def test_empirical_bayes_lets_strong_form_evidence_win_over_the_segment():
    form = [S("narrative", 400, 240)]                  # 0.60 on 400 runs of this form
    segment = [S("narrative", 600, 180), S("bullets", 300, 150)]
    c = choose_hint("greenhouse", "intern", form, segment, [], ranking="empirical_bayes", prior_runs=40)
    assert c.preferred.gen_style_id == "narrative"   # (240 + 40 * 0.3) / 440 = 0.573 > 0.5


def test_empirical_bayes_keeps_spec_levels_so_coverage_is_ratios():
    segment = [S("narrative", 600, 180), S("bullets", 300, 150)]
    # no form candidate (4 < 5 runs): borrowed styles do not make one; the segment level decides
    c = choose_hint("greenhouse", "intern", [S("narrative", 4, 1)], segment, [], ranking="empirical_bayes", prior_runs=40)
    assert (c.source, c.preferred.gen_style_id, c.tried[0].candidates) == ("segment", "bullets", ())
    none = choose_hint("other", None, [S("a", 2, 2)], [], [], ranking="empirical_bayes", prior_runs=40)
    assert none.source == "none" and none.preferred is None
    # family other: nothing above the form, so no borrowed styles and the prior is the form's pooled ratio
    other = choose_hint("other", None, [S("a", 5, 4), S("b", 50, 25)], [], [], ranking="empirical_bayes", prior_runs=40)
    # (4 + 40 * 29/55) / 45 > (25 + 40 * 29/55) / 90
    assert other.tried[0].borrowed == () and other.preferred.gen_style_id == "a"
    assert "prior 0.53 worth 40 runs from this form's own styles" in other.explanation()


def test_empirical_bayes_reads_a_segment_against_the_segment_over_all_families():
    # in greenhouse/intern "lucky" has 5/6, but over all families it is poor; "bullets" is good everywhere
    segment = [S("lucky", 6, 5), S("bullets", 200, 100)]
    pooled = [S("lucky", 900, 270), S("bullets", 1200, 600)]
    assert choose_hint("greenhouse", "intern", [], segment, [], ranking="ratio").preferred.gen_style_id == "lucky"
    c = choose_hint("greenhouse", "intern", [], segment, [], ranking="empirical_bayes", prior_runs=40,
                    pooled_segment=pooled, segment_prior_runs=100)
    assert (c.source, c.preferred.gen_style_id) == ("segment", "bullets")
    assert "prior 0.50 worth 100 runs from this segment pooled over the known families" in c.explanation()
    prefs = segment_preferences({("greenhouse", "intern"): segment}, ranking="empirical_bayes",
                                pooled_segments={"intern": pooled}, segment_prior_runs=100)
    assert prefs == {"greenhouse": {"intern": "bullets"}}
    # a form of that segment gets its prior from the segment's posterior, not its raw 5/6
    f = choose_hint("greenhouse", "intern", [S("lucky", 5, 3)], segment, [], ranking="empirical_bayes",
                    prior_runs=40, pooled_segment=pooled, segment_prior_runs=100)
    lucky_prior = (5 + 100 * Fraction(270, 900)) / (6 + 100)
    assert f.tried[0].styles[0].prior_helpful == lucky_prior * 40
    assert f.preferred.gen_style_id == "bullets"


# --- STYLEHINT_RANKING=bayes_ucb: empirical_bayes with an exploration bonus at the segment level ----

def test_exploration_bonus_is_z_standard_errors_of_the_pooled_figure():
    import math
    pooled = [S("narrative", 900, 270), S("bullets", 25, 10)]
    segment = [S("narrative", 300, 90), S("bullets", 9, 4), S("new", 8, 2)]
    narrative, bullets, new = with_exploration_bonus(segment, pooled)
    # the standard error over the runs the style has in the pooled segment (its own when none there)
    assert float(narrative.bonus) == pytest.approx(UCB_Z * math.sqrt(0.3 * 0.7 / 900))
    assert float(bullets.bonus) == pytest.approx(UCB_Z * math.sqrt((4 / 9) * (5 / 9) / 25))
    assert float(new.bonus) == pytest.approx(UCB_Z * math.sqrt(0.25 * 0.75 / 8))
    assert bullets.posterior_ratio == Fraction(4, 9) + bullets.bonus        # the bonus adds to the mean
    assert with_exploration_bonus(segment, pooled, z=0.0)[1].posterior_ratio == Fraction(4, 9)
    # a style with few runs gets more than one with many: it is preferred while it may still be best
    assert bullets.bonus > 5 * narrative.bonus                              # 30x fewer runs: ~6x the bonus


def test_bayes_ucb_prefers_an_under_sampled_segment_style_that_may_still_be_the_best():
    # over the known families "bullets" rests on 30 runs (12 helpful: 0.40), "narrative" on 1500 (0.41)
    pooled = [S("narrative", 1500, 615), S("bullets", 30, 12)]
    segment = [S("narrative", 500, 205), S("bullets", 10, 4)]
    kwargs = dict(prior_runs=200, pooled_segment=pooled, segment_prior_runs=1000)
    eb = choose_hint("greenhouse", "intern", [], segment, [], ranking="empirical_bayes", **kwargs)
    ucb = choose_hint("greenhouse", "intern", [], segment, [], ranking="bayes_ucb", **kwargs)
    assert (eb.source, eb.preferred.gen_style_id) == ("segment", "narrative")
    assert (ucb.source, ucb.preferred.gen_style_id) == ("segment", "bullets")
    assert "exploration bonus for its uncertainty" in ucb.explanation()
    assert "exploration bonus" not in eb.explanation()
    # style_by_segment agrees with the segment level's choice
    prefs = segment_preferences({("greenhouse", "intern"): segment}, ranking="bayes_ucb",
                                pooled_segments={"intern": pooled}, segment_prior_runs=1000)
    assert prefs == {"greenhouse": {"intern": "bullets"}}
    # a form stuck on its fallback style gets the optimistic segment style, untried
    form = choose_hint("greenhouse", "intern", [S("narrative", 6, 2)], segment, [], ranking="bayes_ucb", **kwargs)
    assert (form.source, form.preferred.gen_style_id, form.preferred.total_runs) == ("form", "bullets", 0)
    assert "the segment's exploration bonus included" in form.explanation()
    # once the style has the runs to show it is poor, the bonus is too small to keep it
    settled = [S("narrative", 1500, 615), S("bullets", 600, 200)]
    after = choose_hint("greenhouse", "intern", [], [S("narrative", 500, 205), S("bullets", 200, 66)], [],
                        ranking="bayes_ucb", prior_runs=200, pooled_segment=settled, segment_prior_runs=1000)
    assert after.preferred.gen_style_id == "narrative"


def test_bayes_ucb_keeps_spec_levels_so_coverage_is_ratios():
    pooled = [S("narrative", 1500, 615), S("bullets", 30, 12)]
    segment = [S("narrative", 500, 205), S("bullets", 10, 4)]
    kwargs = dict(prior_runs=200, pooled_segment=pooled, segment_prior_runs=1000)
    for form, source in (([S("narrative", 4, 1)], "segment"), ([S("narrative", 5, 1)], "form")):
        assert choose_hint("greenhouse", "intern", form, segment, [], **kwargs, ranking="bayes_ucb").source == source
        assert choose_hint("greenhouse", "intern", form, segment, []).source == source
    # family other: no segment level and no bonus; the form's own pooled ratio is the prior, as empirical_bayes
    mine = [S("a", 5, 4), S("b", 50, 25)]
    other = choose_hint("other", "intern", mine, [], [], ranking="bayes_ucb", **kwargs)
    assert other.preferred == choose_hint("other", "intern", mine, [], [], ranking="empirical_bayes", **kwargs).preferred
    assert other.preferred.bonus == 0
    assert choose_hint("other", None, [S("a", 2, 2)], [], [], ranking="bayes_ucb").source == "none"
