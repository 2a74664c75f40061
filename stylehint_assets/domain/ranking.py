"""Ranking styles and the hierarchical fallback choice: form -> segment -> family -> none (SPEC 5).

The rule for one profile. Snapshots apply it to every profile at once as set-based SQL in
``store/hint_choice.py``, which also assembles the full hint on read with ``choose_hint``."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from .hosts import OTHER
from .intervals import wilson_interval, wilson_lower_bound

LEVELS = ("form", "segment", "family")
SOURCES = (*LEVELS, "none")


@dataclass(frozen=True)
class StyleStat:
    """One style's figures at one level; sums are kept so ratios compare exactly."""

    gen_style_id: str
    total_runs: int
    helpful: int
    unhelpful: int
    edit_sum: int = 0
    edit_count: int = 0
    prior_helpful: Fraction = Fraction(0)   # Beta prior as pseudo-counts (``beta``, ``empirical_bayes``, ``bayes_ucb``)
    prior_runs: int = 0
    bonus: Fraction = Fraction(0)           # exploration bonus on the posterior mean (``bayes_ucb`` only)

    @property
    def posterior_ratio(self) -> Fraction:
        """(helpful + prior_helpful) / (total_runs + prior_runs): the Beta posterior mean, plus
        the exploration bonus (``bayes_ucb``) if any."""
        runs = self.total_runs + self.prior_runs
        return ((self.helpful + self.prior_helpful) / runs if runs else Fraction(0)) + self.bonus

    @property
    def helpful_ratio(self) -> float:
        return self.helpful / self.total_runs if self.total_runs else 0.0

    @property
    def avg_edit_chars(self) -> float | None:
        return self.edit_sum / self.edit_count if self.edit_count else None

    def as_json(self) -> dict[str, Any]:
        return {
            "helpful": self.helpful,
            "unhelpful": self.unhelpful,
            "total_runs": self.total_runs,
            "helpful_ratio": round(self.helpful_ratio, 6),
            "avg_edit_chars": None if self.avg_edit_chars is None else round(self.avg_edit_chars, 3),
        }


@dataclass(frozen=True)
class Thresholds:
    min_form_runs: int = 5
    min_segment_runs: int = 5
    min_family_runs: int = 10

    def for_level(self, level: str) -> int:
        return {"form": self.min_form_runs, "segment": self.min_segment_runs, "family": self.min_family_runs}[level]


RANKINGS = ("ratio", "wilson", "beta", "empirical_bayes", "bayes_ucb")
HIERARCHICAL = ("empirical_bayes", "bayes_ucb")   # the fitted two-step priors (``store/empirical_priors.py``)
# Strength of the ``beta`` prior in pseudo-runs: a style's own runs outweigh the prior once it
# has more than this many. The closed-loop simulator's sweep (3 to 200, one seed) found 100
# lowest; across seeds it does not beat ``ratio`` reliably (README, closed loop).
PRIOR_RUNS = 100


def with_prior(styles: Sequence[StyleStat], upper: Sequence[StyleStat], strength: int = PRIOR_RUNS) -> tuple[StyleStat, ...]:
    """The styles with a Beta prior of ``strength`` pseudo-runs centred on the same style's
    helpful ratio one level up (``upper``; its posterior mean when ``upper`` has a prior itself);
    a style missing there gets the pooled ratio of ``upper``, and with no ``upper`` at all the
    pooled ratio of ``styles`` themselves.

    Empirical Bayes shrinkage: a form's runs are read against what the segment already knows
    about that style, so a lucky 4/5 no longer displaces a style that is good across the
    segment, and a style's few explore runs no longer decide alone. In SQL:
    ``(helpful + k * up_helpful / up_runs) / (total_runs + k)``."""
    pool = upper if any(s.total_runs for s in upper) else styles
    runs = sum(s.total_runs for s in pool)
    pooled = Fraction(sum(s.helpful for s in pool), runs) if runs else Fraction(0)
    by_style = {s.gen_style_id: s for s in upper if s.total_runs}
    out = []
    for s in styles:
        up = by_style.get(s.gen_style_id)
        mean = up.posterior_ratio if up else pooled    # ``up`` without a prior: its helpful ratio
        out.append(replace(s, prior_helpful=mean * strength, prior_runs=strength))
    return tuple(out)


# ``empirical_bayes`` prior strengths: bounds of the fitted pseudo-runs, and the value used when
# the window has too little data to fit (fewer than FIT_MIN_CELLS cells).
FIT_BOUNDS = (1, 1000)
FIT_MIN_CELLS = 20


def fitted_prior_runs(cells: int, squared_deviation: float, binomial_variance: float, spread_weight: float) -> int:
    """The Beta prior strength k (pseudo-runs) fitted by the method of moments on the spread of
    one level's helpful ratios around the same style's ratio one level up (forms around their
    segment, segments around the segment pooled over families).

    Over the cells i (e.g. (form, style)) with n_i runs, h_i helpful and ratio p_i one level up:
    ``squared_deviation`` = sum (h_i - n_i p_i)^2 / n_i, ``binomial_variance`` = sum p_i (1 - p_i),
    ``spread_weight`` = sum (n_i - 1) p_i (1 - p_i). If a cell's true ratio is drawn from
    Beta(k p_i, k (1 - p_i)), h_i is beta-binomial with variance n_i p_i (1 - p_i) (1 + (n_i - 1) / (k + 1)),
    so E[squared_deviation] = binomial_variance + spread_weight / (k + 1), which solved for k gives
    the estimate. Cells that follow the level above closely give a large k (the level above
    decides), cells that differ a small one (their own runs decide); no spread beyond the binomial
    noise gives the upper bound. Rounded, clamped to ``FIT_BOUNDS``; ``PRIOR_RUNS`` when there are
    fewer than ``FIT_MIN_CELLS`` cells."""
    low, high = FIT_BOUNDS
    if cells < FIT_MIN_CELLS or spread_weight <= 0:
        return PRIOR_RUNS
    excess = squared_deviation - binomial_variance
    if excess <= 0:
        return high
    return int(min(high, max(low, round(spread_weight / excess - 1))))


# ``bayes_ucb``: the exploration bonus in standard errors of the segment's pooled figure. In the
# closed-loop simulator (seeds 1-5, README) 0.5, 0.75 and 1.0 are all at least 10 % below
# ``ratio``'s regret on every seed, 0.3 is not (seed 1, 0.94x); 0.75 is the middle of that range.
UCB_Z = 0.75


def with_exploration_bonus(styles: Sequence[StyleStat], pooled: Sequence[StyleStat], z: float = UCB_Z) -> tuple[StyleStat, ...]:
    """The styles with ``z`` standard errors added to their posterior mean, the error of a ratio
    m over the n runs the style has in ``pooled`` (the segment over the known families; the
    style's own runs when it has none there): ``sqrt(m (1 - m) / n)``.

    Optimism under uncertainty, at the segment level: the segment's preferred style is served
    to most of its forms, so a style that was unlucky in its few explore runs would otherwise
    get no runs but explore runs and stay behind for weeks; with the bonus, a style whose
    figure rests on few runs is preferred while it might still be the best, its exploit runs
    settle the question, and the bonus shrinks as its runs grow. Deterministic (the inputs are
    counts), so the stored choice and the assembled hint agree."""
    runs_in_pool = {s.gen_style_id: s.total_runs for s in pooled}
    out = []
    for s in styles:
        n = runs_in_pool.get(s.gen_style_id) or s.total_runs
        m = float(s.posterior_ratio)
        bonus = z * math.sqrt(max(m * (1.0 - m), 1e-4) / n) if n else 0.0
        out.append(replace(s, bonus=Fraction(bonus)))
    return tuple(out)


def under_threshold_styles(styles: Sequence[StyleStat], upper: Sequence[StyleStat], min_upper_runs: int,
                           min_runs: int) -> tuple[StyleStat, ...]:
    """The candidates of the level above (``min_upper_runs``+ runs there) that ``styles`` has
    fewer than ``min_runs`` runs of: the style's own stats, or zero-run stats when it has none.
    With ``empirical_bayes`` and ``bayes_ucb`` a form may be recommended a style it has not run
    enough to be its own candidate when its segment's evidence for that style outweighs the
    form's own runs; the form's few runs of it still count in its posterior. (Borrowing only
    the never-run styles left the segment's best style out on the busy forms, where it often
    has a few explore runs: README, closed loop.)"""
    mine = {s.gen_style_id: s for s in styles}
    out = []
    for s in sorted(upper, key=lambda s: s.gen_style_id):
        own = mine.get(s.gen_style_id)
        if s.total_runs >= min_upper_runs and (own is None or own.total_runs < min_runs):
            out.append(own or StyleStat(s.gen_style_id, 0, 0, 0))
    return tuple(out)


def rank_key(stat: StyleStat, ranking: str = "ratio") -> tuple:
    """Sort key, best first: highest helpful ratio (or its Wilson lower bound, or its Beta
    posterior mean), lowest mean edit (none last), most runs, name. Ratios compare exactly."""
    if ranking == "wilson":
        score: Fraction | float = wilson_lower_bound(stat.helpful, stat.total_runs)
    elif ranking in ("beta", *HIERARCHICAL):
        score = stat.posterior_ratio
    else:
        score = Fraction(stat.helpful, stat.total_runs) if stat.total_runs else Fraction(0)
    edit = Fraction(stat.edit_sum, stat.edit_count) if stat.edit_count else None
    return (-score, edit is None, edit or 0, -stat.total_runs, stat.gen_style_id)


def best_style(candidates: Sequence[StyleStat], ranking: str = "ratio") -> StyleStat | None:
    return min(candidates, key=lambda s: rank_key(s, ranking), default=None)


@dataclass(frozen=True)
class LevelTry:
    level: str
    scope: str
    min_runs: int
    styles: tuple[StyleStat, ...]
    skipped: str | None = None
    ranking: str = "ratio"
    borrowed: tuple[StyleStat, ...] = ()   # under-threshold styles of the level above (``empirical_bayes``, ``bayes_ucb``)

    @property
    def candidates(self) -> tuple[StyleStat, ...]:
        """Styles with ``min_runs``+ runs; once there is one, the borrowed styles compete too."""
        own = tuple(s for s in self.styles if s.total_runs >= self.min_runs)
        return own + self.borrowed if own else own

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "scope": self.scope,
            "min_runs": self.min_runs,
            "candidates": sorted(s.gen_style_id for s in self.candidates),
            "styles": {s.gen_style_id: s.as_json() for s in sorted(self.styles, key=lambda s: rank_key(s, self.ranking))},
            **({"skipped": self.skipped} if self.skipped else {}),
        }


@dataclass(frozen=True)
class HintChoice:
    source: str
    preferred: StyleStat | None
    tried: tuple[LevelTry, ...] = field(default_factory=tuple)
    ranking: str = "ratio"
    prior_level: str | None = None   # where the form level's prior came from (``beta``, ``empirical_bayes``, ``bayes_ucb``)

    @property
    def chosen_level(self) -> LevelTry | None:
        return self.tried[-1] if self.preferred is not None else None

    def explanation(self) -> str:
        if self.preferred is None:
            reasons = "; ".join(
                t.skipped or f"no style has {t.min_runs}+ runs at {t.level} level ({t.scope})" for t in self.tried
            )
            return f"No recommendation: {reasons}."
        level = self.tried[-1]
        s = self.preferred
        edit = "no edit data" if s.avg_edit_chars is None else f"{s.avg_edit_chars:.1f} mean edited chars"
        if self.ranking == "wilson":
            low, high = wilson_interval(s.helpful, s.total_runs)
            measure = (f"best 95% Wilson lower bound {low:.2f} (interval {low:.2f}-{high:.2f}, "
                       f"{s.helpful}/{s.total_runs} helpful)")
        elif self.ranking == "beta" or (self.ranking in HIERARCHICAL and s.prior_runs):
            prior = float(s.prior_helpful / s.prior_runs) if s.prior_runs else 0.0
            where = ""
            if self.ranking in HIERARCHICAL:
                where = (f" from the {self.prior_level} level" if level.level == "form" and self.prior_level
                         else " from this segment pooled over the known families" if level.level == "segment"
                         else " from this form's own styles") + " (strength fitted on this snapshot)"
            if s.bonus:
                where += f", +{float(s.bonus):.3f} exploration bonus for its uncertainty"
            elif self.ranking == "bayes_ucb" and level.level == "form" and self.prior_level == "segment":
                where += ", the segment's exploration bonus included"
            measure = (f"best posterior helpful rate {float(s.posterior_ratio):.2f} ({s.helpful}/{s.total_runs} "
                       f"helpful, prior {prior:.2f} worth {s.prior_runs} runs{where})")
        else:
            measure = f"best helpful ratio {s.helpful}/{s.total_runs} = {s.helpful_ratio:.2f}"
        if level.borrowed:
            untried = ("" if s not in level.borrowed else " (not yet run on this form)" if not s.total_runs
                       else f" (only {s.total_runs} run(s) on this form)")
            return (
                f"{s.gen_style_id}{untried} chosen at {level.level} level ({level.scope}): {measure} ({edit}) among "
                f"{len(level.candidates) - len(level.borrowed)} style(s) with {level.min_runs}+ runs and "
                f"{len(level.borrowed)} more from the {self.prior_level} level."
            )
        return (
            f"{s.gen_style_id} chosen at {level.level} level ({level.scope}): {measure} ({edit}) among "
            f"{len(level.candidates)} style(s) with {level.min_runs}+ runs."
        )


def choose_hint(
    host_family: str,
    segment_key: str | None,
    form_styles: Sequence[StyleStat],
    segment_styles: Sequence[StyleStat],
    family_styles: Sequence[StyleStat],
    thresholds: Thresholds = Thresholds(),
    ranking: str = "ratio",
    prior_runs: int = PRIOR_RUNS,
    pooled_segment: Sequence[StyleStat] = (),
    segment_prior_runs: int = 0,
) -> HintChoice:
    """The first level with a candidate wins; its best-ranked style is preferred. With ranking
    ``beta`` a form's styles get their prior from the same style one level up (the segment, or
    the family when the segment level is skipped), and the segment's and the family's styles
    from their own level's pooled ratio over all styles: a family's figures, pooled over its
    segments, would pull each segment towards the family's best style and hide its own.

    ``empirical_bayes`` is a two-step hierarchy with strengths fitted on the snapshot
    (``fitted_prior_runs``): a (family, segment)'s styles get a prior of ``segment_prior_runs``
    pseudo-runs from the same style in ``pooled_segment`` (the segment over all known families),
    and a form's styles a prior of ``prior_runs`` from that *posterior* one level up (the
    family's ratio when the segment level is skipped; the form's own pooled ratio for family
    other). Once the form has a candidate, the level above's candidates that it has run fewer
    than ``min_form_runs`` times compete too (``under_threshold_styles``; never run: scored by
    their prior alone), so a form stuck on the style of its first runs can be moved to its
    segment's better one. The family level ranks as
    ``ratio``.

    ``bayes_ucb`` is ``empirical_bayes`` with an exploration bonus on the segment posterior
    (``with_exploration_bonus``): the segment level, the forms' prior and the untried styles
    all read the optimistic figure. Levels and thresholds stay SPEC 5's: the source (so the
    coverage) is ``ratio``'s."""
    borrowed: tuple[StyleStat, ...] = ()
    prior_level = None
    if ranking in ("beta", *HIERARCHICAL):
        has_segment = host_family != OTHER and segment_key is not None
        prior_level = "segment" if has_segment and segment_styles else "family" if host_family != OTHER else None
        upper = {"segment": segment_styles, "family": family_styles, None: ()}[prior_level]
        if ranking == "beta":
            segment_styles = with_prior(segment_styles, ())
            family_styles = with_prior(family_styles, ())
            form_styles = with_prior(form_styles, upper)
        else:
            if has_segment and pooled_segment and segment_prior_runs:
                segment_styles = with_prior(segment_styles, pooled_segment, segment_prior_runs)
                if ranking == "bayes_ucb":
                    segment_styles = with_exploration_bonus(segment_styles, pooled_segment)
                if prior_level == "segment":
                    upper = segment_styles
            min_upper = thresholds.for_level(prior_level) if prior_level else 0
            borrowed = with_prior(under_threshold_styles(form_styles, upper, min_upper, thresholds.min_form_runs),
                                  upper, prior_runs)
            form_styles = with_prior(form_styles, upper, prior_runs)
    tried: list[LevelTry] = []
    levels = (
        ("form", "this form", form_styles, None),
        (
            "segment",
            f"{host_family}/{segment_key}",
            segment_styles,
            "family is other" if host_family == OTHER else "profile has no segment" if segment_key is None else None,
        ),
        ("family", host_family, family_styles, "family is other" if host_family == OTHER else None),
    )
    for level, scope, styles, skipped in levels:
        attempt = LevelTry(level, scope, thresholds.for_level(level), tuple(() if skipped else styles), skipped, ranking,
                           borrowed if level == "form" else ())
        tried.append(attempt)
        best = best_style(attempt.candidates, ranking)
        if best is not None:
            return HintChoice(level, best, tuple(tried), ranking, prior_level)
    return HintChoice("none", None, tuple(tried), ranking, prior_level)


def segment_preferences(segment_styles: Mapping[tuple[str, str], Sequence[StyleStat]], thresholds: Thresholds = Thresholds(),
                        ranking: str = "ratio", pooled_segments: Mapping[str, Sequence[StyleStat]] | None = None,
                        segment_prior_runs: int = 0) -> dict[str, dict[str, str]]:
    """family -> {segment -> preferred style at the segment level}, where that level has a candidate
    (ranking ``beta``: prior from the segment's pooled ratio; ``empirical_bayes``: from the
    segment pooled over the known families, ``pooled_segments``, and ``bayes_ucb`` its exploration
    bonus; as in ``choose_hint``)."""
    out: dict[str, dict[str, str]] = {}
    for (family, segment), styles in sorted(segment_styles.items()):
        if ranking == "beta":
            styles = with_prior(styles, ())
        elif ranking in HIERARCHICAL and family != OTHER and pooled_segments and segment_prior_runs:
            styles = with_prior(styles, pooled_segments.get(segment, ()), segment_prior_runs)
            if ranking == "bayes_ucb":
                styles = with_exploration_bonus(styles, pooled_segments.get(segment, ()))
        best = best_style([s for s in styles if s.total_runs >= thresholds.min_segment_runs], ranking)
        if best is not None:
            out.setdefault(family, {})[segment] = best.gen_style_id
    return out


def profile_segment(segment_counts: dict[str, int]) -> str | None:
    """Most frequent non-null segment; ties alphabetically first."""
    counts = {k: v for k, v in segment_counts.items() if k is not None}
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None
