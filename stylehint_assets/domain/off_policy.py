"""Off-policy estimates: the helpful rate a ranking would have achieved, from explore runs.

Explore runs (``policy = explore``) draw their style uniformly among the K styles, so each
run's propensity is 1/K whatever the form, and a policy that would have served style
pi(form) can be scored on the explore runs where the drawn style happens to equal pi(form):

- **IPS** (inverse propensity): V = (1/n) * sum_i K * [a_i = pi(x_i)] * r_i over the n
  explore runs of the forms the policy covers; unbiased. Each term is 0 or K, so its
  variance comes from two counts, and the 95 % interval is the normal one, V +- 1.96 SE.
- **SNIPS** (self-normalised): sum [a_i = pi(x_i)] r_i / sum [a_i = pi(x_i)]; with equal
  propensities this is the helpful ratio of the matching runs, so its interval is Wilson's.
  Slightly biased, much less variance than IPS when few runs match.

r_i is 1 for ``helpful`` and 0 otherwise (no feedback counts as not helpful, as SPEC 4's
helpful_ratio does). Only counts per (form, style) come in, never single runs.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .intervals import wilson_interval, z_for_confidence


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int            # runs the estimate averages over (IPS) or matching runs (SNIPS)

    def as_json(self) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 6)  # noqa: E731
        return {"value": r(self.value), "low": r(self.low), "high": r(self.high), "n": self.n}


def ips_estimate(matched_helpful: int, runs: int, n_styles: int, confidence: float = 0.95) -> Estimate:
    """IPS value over ``runs`` explore runs, of which ``matched_helpful`` matched the policy and
    were helpful, with uniform propensity 1/``n_styles``."""
    if runs <= 0:
        return Estimate(None, None, None, 0)
    if not 0 <= matched_helpful <= runs or n_styles < 1:
        raise ValueError(f"need 0 <= matched_helpful <= runs and n_styles >= 1, got {matched_helpful}, {runs}, {n_styles}")
    mean = n_styles * matched_helpful / runs
    second = n_styles * n_styles * matched_helpful / runs
    variance = max(0.0, second - mean * mean) * runs / (runs - 1) if runs > 1 else float("inf")
    half = z_for_confidence(confidence) * math.sqrt(variance / runs)
    return Estimate(mean, max(0.0, mean - half), min(1.0, mean + half) if math.isfinite(half) else 1.0, runs)


def snips_estimate(matched_helpful: int, matched_runs: int, confidence: float = 0.95) -> Estimate:
    """Self-normalised estimate: the helpful ratio of the explore runs that matched the policy."""
    if matched_runs <= 0:
        return Estimate(None, None, None, 0)
    low, high = wilson_interval(matched_helpful, matched_runs, confidence)
    return Estimate(matched_helpful / matched_runs, low, high, matched_runs)


@dataclass(frozen=True)
class PolicyValue:
    ips: Estimate
    snips: Estimate
    explore_runs: int        # explore runs in the window
    covered_runs: int        # of those, on forms where the policy recommends a style
    matched_runs: int        # of those, whose drawn style is the recommended one

    def as_json(self) -> dict[str, Any]:
        return {"ips": self.ips.as_json(), "snips": self.snips.as_json(), "explore_runs": self.explore_runs,
                "covered_runs": self.covered_runs, "matched_runs": self.matched_runs}


def policy_value(cells: Iterable[Mapping[str, Any]], choice: Mapping[tuple[str, str], str | None],
                 n_styles: int) -> PolicyValue:
    """Score the policy ``choice`` ((host, schema_hash) -> style or None) on explore counts
    ``{host, schema_hash, gen_style_id, runs, helpful}``. Forms without a recommendation are
    left out of both estimates (the extension's own default is not known here); their share
    shows as ``covered_runs / explore_runs``."""
    total = covered = matched = matched_helpful = 0
    for c in cells:
        runs, helpful = int(c["runs"]), int(c["helpful"])
        total += runs
        preferred = choice.get((c["host"], c["schema_hash"]))
        if preferred is None:
            continue
        covered += runs
        if c["gen_style_id"] == preferred:
            matched += runs
            matched_helpful += helpful
    return PolicyValue(ips_estimate(matched_helpful, covered, n_styles), snips_estimate(matched_helpful, matched),
                       total, covered, matched)
