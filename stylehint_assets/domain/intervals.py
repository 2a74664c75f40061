"""Interval estimates for the figures the style hints are built on (stdlib ``math`` only).

Why: a helpful ratio of 3/4 and one of 300/400 rank the same as plain ratios, but only the
second is evidence. These functions say how sure a figure is, so rankings, reports and
experiment read-outs can prefer well-supported styles and show their uncertainty.

* ``wilson_interval`` / ``wilson_lower_bound``: one proportion (helpful ratio, success rate).
  Wilson's score interval keeps good coverage for small n and ratios near 0 or 1, where the
  textbook Wald interval ``p +- z sqrt(p(1-p)/n)`` collapses (Newcombe 1998, method 3).
* ``newcombe_difference``: the difference of two independent proportions (style A vs B,
  profile used vs not), Newcombe's hybrid score interval (Newcombe 1998, method 10).
* ``two_proportion_z_test``: pooled z test, one-sided p-value for p1 > p2.
* ``mean_interval``: a mean (edit characters, duration) with a t interval.
* ``quantile_interval``: a quantile (p90 duration) by order statistics, no distribution assumed.
* ``normal_quantile``: the standard normal inverse CDF all of the above use.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "normal_quantile",
    "normal_cdf",
    "z_for_confidence",
    "t_quantile",
    "wilson_interval",
    "wilson_lower_bound",
    "newcombe_difference",
    "two_proportion_z_test",
    "mean_interval",
    "quantile_interval",
]

# Acklam's rational approximation of the normal quantile (relative error < 1.15e-9), refined
# below with one Halley step against math.erfc, which brings it to double precision.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


def normal_cdf(x: float) -> float:
    """Standard normal CDF, accurate in both tails (via erfc)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF for 0 < p < 1 (Acklam + one Halley step; ~1e-15).

    ``normal_quantile(0.975) == 1.959963984540054``. Raises ValueError outside (0, 1).
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    elif p <= 1.0 - _P_LOW:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / \
            (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    # Halley refinement. The error is computed from the nearer tail so it keeps its precision.
    if p < 0.5:
        e = normal_cdf(x) - p
    else:
        e = (1.0 - p) - normal_cdf(-x)
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


@lru_cache(maxsize=64)
def z_for_confidence(confidence: float) -> float:
    """The two-sided critical value: 1.96 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return normal_quantile(1.0 - (1.0 - confidence) / 2.0)


def _check_counts(successes: int, n: int) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; n = 0 gives (0.0, 1.0) (nothing is known).

    Use it for helpful ratios and success rates: unlike the Wald interval it never leaves
    [0, 1] and does not collapse to a point at 0/n or n/n. Example: 81/263 -> (0.2553, 0.3662).
    """
    _check_counts(successes, n)
    if n == 0:
        return (0.0, 1.0)
    z = z_for_confidence(confidence)
    z2 = z * z
    p = successes / n
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return (low, high)


def wilson_lower_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """Lower end of the Wilson interval: a conservative score for ranking by helpful ratio.

    A style with 4/4 helpful scores 0.51 and one with 90/100 scores 0.83, so well-supported
    styles win over lucky small samples. n = 0 scores 0.0.
    """
    return wilson_interval(successes, n, confidence)[0]


def newcombe_difference(s1: int, n1: int, s2: int, n2: int,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """(p1 - p2, low, high): Newcombe's hybrid score interval for a difference of proportions.

    Combines the two Wilson intervals (Newcombe 1998, method 10); good coverage for small
    samples and for proportions at 0 or 1, where the Wald difference interval fails. Use it to
    report "style A beats style B by d (low..high)". Example: 56/70 - 48/80 -> 0.2 (0.0524, 0.3339).
    An empty group contributes the uninformative interval (0, 1), with its p taken as 0.
    """
    _check_counts(s1, n1)
    _check_counts(s2, n2)
    p1 = s1 / n1 if n1 else 0.0
    p2 = s2 / n2 if n2 else 0.0
    l1, u1 = wilson_interval(s1, n1, confidence)
    l2, u2 = wilson_interval(s2, n2, confidence)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (diff, max(-1.0, low), min(1.0, high))


def two_proportion_z_test(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """(z, one-sided p-value for p1 > p2) of the pooled two-proportion z test.

    z**2 equals Pearson's chi-square of the 2x2 table (no continuity correction). Use it for a
    yes/no read-out ("is the profile-used success rate higher?"); use ``newcombe_difference``
    for how much. Degenerate cases with no information (an empty group, or both proportions
    equal at 0 or 1) give (0.0, 0.5).
    """
    _check_counts(s1, n1)
    _check_counts(s2, n2)
    if n1 == 0 or n2 == 0:
        return (0.0, 0.5)
    pooled = (s1 + s2) / (n1 + n2)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if var <= 0.0:
        return (0.0, 0.5)
    z = (s1 / n1 - s2 / n2) / math.sqrt(var)
    return (z, normal_cdf(-z))


def _t_cdf_int(t: float, df: int) -> float:
    """Student t CDF for a whole number of degrees of freedom (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2:
        term, total = 1.0, 0.0
        if df > 1:
            term = math.cos(theta)
            total = term
            for k in range(3, df - 1, 2):  # cos^k theta * (2*4*..*(k-1)) / (1*3*..*k)
                term *= c2 * (k - 1) / k
                total += term
        a = 2.0 / math.pi * (theta + s * total) if df > 1 else 2.0 * theta / math.pi
    else:
        term = total = 1.0
        for k in range(2, df - 1, 2):  # cos^k theta * (1*3*..*(k-1)) / (2*4*..*k)
            term *= c2 * (k - 1) / k
            total += term
        a = s * total
    return 0.5 + 0.5 * a


def _t_pdf(t: float, df: float) -> float:
    return math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
                    - (df + 1) / 2 * math.log1p(t * t / df))


def t_quantile(p: float, df: float) -> float:
    """Student t quantile, approximated.

    Closed forms for df = 1, 2 and 4. Otherwise the Cornish-Fisher expansion around the normal
    quantile (Abramowitz & Stegun 26.7.5); for whole df up to 200 it is then polished with
    Newton steps on the exact t CDF (A&S 26.7.3-4), which makes it accurate to ~1e-10. Beyond
    that (or for fractional df) the expansion alone is within ~1e-6 of the true value, far below
    what matters for an interval's width.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2.0 * p - 1.0) / math.sqrt(2.0 * p * (1.0 - p))
    if df == 4:
        alpha = 4.0 * p * (1.0 - p)
        sa = math.sqrt(alpha)
        q = math.cos(math.acos(sa) / 3.0) / sa
        return math.copysign(2.0 * math.sqrt(q - 1.0), p - 0.5)
    z = normal_quantile(p)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    t = z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    if float(df).is_integer() and df <= 200:
        k = int(df)
        for _ in range(8):
            step = (_t_cdf_int(t, k) - p) / _t_pdf(t, k)
            t -= step
            if abs(step) <= 1e-13 * max(1.0, abs(t)):
                break
    return t


def mean_interval(values: Sequence[float] | None = None, confidence: float = 0.95, *,
                  n: int | None = None, mean: float | None = None,
                  sd: float | None = None) -> tuple[float, float, float] | None:
    """(mean, low, high): t interval for a mean, from raw ``values`` or from ``n``, ``mean``, ``sd``.

    ``sd`` is the sample standard deviation (n - 1 divisor). The t quantile is approximated
    (see ``t_quantile``); for large n this is the normal interval. Skewed figures such as edit
    characters need a fair n before the interval is honest (central limit theorem). With
    n < 2 there is no spread to estimate: returns None.
    """
    if values is not None:
        if n is not None or mean is not None or sd is not None:
            raise ValueError("give either values or n, mean and sd, not both")
        n = len(values)
        if n < 2:
            return None
        mean = math.fsum(values) / n
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    else:
        if n is None or mean is None or sd is None:
            raise ValueError("give values, or all of n, mean and sd")
        if sd < 0:
            raise ValueError(f"sd must be >= 0, got {sd!r}")
        if n < 2:
            return None
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    t = t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1)
    half = t * sd / math.sqrt(n)
    return (mean, mean - half, mean + half)


def _binomial_cdf_table(n: int, q: float) -> tuple[int, list[float]]:
    """(k0, F) with F[i] = P(B <= k0 + i), B ~ Binomial(n, q), over the range where it moves.

    Beyond t = 12 sigma + 50 from the mean each tail holds < 1e-30 and is taken as 0 or 1
    (Bernstein: P(|B - nq| >= t) <= 2 exp(-t^2 / (2 sigma^2 + 2t/3)), and that exponent is at
    least min(12^2/2, 3 * 50, 1.5 * 50) = 72 here), so large n costs O(sqrt(n)), not O(n).
    The probabilities come from the mode outwards by the ratio of neighbours (one lgamma in
    all, not three per term); starting at the largest term, nothing that matters underflows.
    """
    sigma = math.sqrt(n * q * (1.0 - q))
    k0 = max(0, int(n * q - 12.0 * sigma - 50))
    k1 = min(n, int(n * q + 12.0 * sigma + 50))
    mode = min(max(int((n + 1) * q), k0), k1)
    odds = q / (1.0 - q)
    pmf = [0.0] * (k1 - k0 + 1)
    p = pmf[mode - k0] = math.exp(math.lgamma(n + 1) - math.lgamma(mode + 1) - math.lgamma(n - mode + 1)
                                  + mode * math.log(q) + (n - mode) * math.log1p(-q))
    for k in range(mode, k0, -1):          # P(k - 1) = P(k) * k / ((n - k + 1) * odds)
        p = pmf[k - 1 - k0] = p * k / ((n - k + 1) * odds)
    p = pmf[mode - k0]
    for k in range(mode, k1):              # P(k + 1) = P(k) * (n - k) * odds / (k + 1)
        p = pmf[k + 1 - k0] = p * (n - k) * odds / (k + 1)
    return k0, [min(total, 1.0) for total in itertools.accumulate(pmf)]


def quantile_interval(sorted_values: Sequence[float], q: float,
                      confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free interval for the q-quantile: (x_(l), x_(u)) from the sorted sample.

    Order-statistic (binomial) method: the number of observations below the true quantile is
    Binomial(n, q), so [x_(l), x_(u)] covers it with probability F(u-1) - F(l-1). Each tail
    gets at most (1 - confidence)/2; l is the highest and u the lowest rank that allows this,
    so coverage is >= confidence. Use it for p50/p90 durations: no normality assumed.
    ``sorted_values`` must be sorted ascending. None when the sample is too small for the
    confidence in either tail (e.g. the median at 95 % needs n >= 6).
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    n = len(sorted_values)
    if n == 0:
        return None
    tail = (1.0 - confidence) / 2.0
    k0, cdf = _binomial_cdf_table(n, q)

    def F(k: int) -> float:  # P(B <= k)
        if k < k0:
            return 0.0
        return cdf[k - k0] if k - k0 < len(cdf) else 1.0

    if F(0) > tail or F(n - 1) < 1.0 - tail:
        return None
    # l: largest rank in 1..n with F(l - 1) <= tail; u: smallest rank with F(u - 1) >= 1 - tail.
    lo, hi = 1, n
    while lo < hi:  # F is non-decreasing: binary search for the last l with F(l-1) <= tail
        mid = (lo + hi + 1) // 2
        if F(mid - 1) <= tail:
            lo = mid
        else:
            hi = mid - 1
    l_rank = lo
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        if F(mid - 1) >= 1.0 - tail:
            hi = mid
        else:
            lo = mid + 1
    u_rank = lo
    return (sorted_values[l_rank - 1], sorted_values[u_rank - 1])
