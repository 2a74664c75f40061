"""stylehint_assets.domain.intervals pinned against published values and basic properties."""
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stylehint_assets.domain.intervals import (
    mean_interval,
    newcombe_difference,
    normal_cdf,
    normal_quantile,
    quantile_interval,
    t_quantile,
    two_proportion_z_test,
    wilson_interval,
    wilson_lower_bound,
)

# --- normal quantile ---------------------------------------------------------------------

@pytest.mark.parametrize("p, z", [
    (0.975, 1.959963984540054),
    (0.95, 1.6448536269514722),
    (0.995, 2.5758293035489004),
    (0.5, 0.0),
    (0.8413447460685429, 1.0),
    (0.02275013194817921, -2.0),
    (1e-10, -6.361340902404056),
])
def test_normal_quantile_known_values(p, z):
    assert normal_quantile(p) == pytest.approx(z, abs=1e-9)


def test_normal_quantile_1_96_to_nine_digits():
    assert round(normal_quantile(0.975), 9) == 1.959963985


@given(st.floats(min_value=1e-300, max_value=1 - 1e-16))
def test_normal_quantile_inverts_the_cdf(p):
    x = normal_quantile(p)
    if p < 0.5:
        assert normal_cdf(x) == pytest.approx(p, rel=1e-9)
    else:
        assert normal_cdf(-x) == pytest.approx(1 - p, rel=1e-8, abs=1e-16)


def test_normal_quantile_symmetric_and_monotone():
    ps = [i / 1000 for i in range(1, 1000)]
    zs = [normal_quantile(p) for p in ps]
    assert zs == sorted(zs)
    for p in (0.001, 0.02425, 0.1, 0.3):
        assert normal_quantile(p) == pytest.approx(-normal_quantile(1 - p), abs=1e-12)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_normal_quantile_rejects_out_of_range(p):
    with pytest.raises(ValueError):
        normal_quantile(p)


# --- Wilson ------------------------------------------------------------------------------

# Newcombe RG (1998) "Two-sided confidence intervals for the single proportion: comparison of
# seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (score, no correction).
@pytest.mark.parametrize("s, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_textbook(s, n, low, high):
    lo, hi = wilson_interval(s, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_wilson_empty_and_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(6, 5)
    with pytest.raises(ValueError):
        wilson_interval(-1, 5)


def test_wilson_confidence_widens():
    narrow = wilson_interval(30, 100, confidence=0.80)
    wide = wilson_interval(30, 100, confidence=0.99)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


@given(st.integers(min_value=1, max_value=5000), st.floats(min_value=0, max_value=1))
def test_wilson_contains_phat_and_stays_in_unit_interval(n, frac):
    s = round(frac * n)
    lo, hi = wilson_interval(s, n)
    assert 0.0 <= lo <= s / n <= hi <= 1.0


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=2, max_value=20))
def test_wilson_narrows_with_n(n, factor):
    s = n // 3
    lo1, hi1 = wilson_interval(s, n)
    lo2, hi2 = wilson_interval(s * factor, n * factor)
    assert hi2 - lo2 < hi1 - lo1


def test_wilson_lower_bound_prefers_evidence():
    # 4/4 looks perfect but is weak evidence; 90/100 is strong.
    assert wilson_lower_bound(4, 4) < wilson_lower_bound(90, 100)
    assert wilson_lower_bound(4, 4) == pytest.approx(0.5101, abs=1e-4)


def test_wilson_coverage_close_to_nominal():
    """Exact coverage over the binomial distribution at a few p: near 95 %, never far below."""
    n = 40
    for p in (0.1, 0.3, 0.5):
        coverage = 0.0
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            if lo <= p <= hi:
                coverage += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        assert 0.92 < coverage < 0.99, (p, coverage)


# --- Newcombe difference ------------------------------------------------------------------

# Newcombe RG (1998) "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10.
@pytest.mark.parametrize("s1, n1, s2, n2, low, high", [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0),
    (10, 10, 0, 10, 0.6075, 1.0),
])
def test_newcombe_textbook(s1, n1, s2, n2, low, high):
    diff, lo, hi = newcombe_difference(s1, n1, s2, n2)
    assert diff == pytest.approx(s1 / n1 - s2 / n2)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


@given(st.integers(1, 300), st.integers(1, 300), st.floats(0, 1), st.floats(0, 1))
def test_newcombe_contains_diff_and_antisymmetric(n1, n2, f1, f2):
    s1, s2 = round(f1 * n1), round(f2 * n2)
    d, lo, hi = newcombe_difference(s1, n1, s2, n2)
    assert -1.0 <= lo <= d <= hi <= 1.0
    d2, lo2, hi2 = newcombe_difference(s2, n2, s1, n1)
    assert d2 == pytest.approx(-d)
    assert lo2 == pytest.approx(-hi) and hi2 == pytest.approx(-lo)


def test_newcombe_narrows_with_n():
    _, lo1, hi1 = newcombe_difference(56, 70, 48, 80)
    _, lo2, hi2 = newcombe_difference(560, 700, 480, 800)
    assert hi2 - lo2 < hi1 - lo1
    assert lo2 > lo1


# --- two-proportion z test ----------------------------------------------------------------

def test_z_test_squared_equals_pearson_chi_square():
    # 2x2 table [[56, 14], [48, 32]]: chi2 = N (ad - bc)^2 / (r1 r2 c1 c2) without correction.
    a, b, c, d = 56, 14, 48, 32
    n = a + b + c + d
    chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    z, p = two_proportion_z_test(56, 70, 48, 80)
    assert z * z == pytest.approx(chi2)
    assert z == pytest.approx(2.6502, abs=1e-4)
    assert p == pytest.approx(0.004023, abs=1e-6)


def test_z_test_direction_and_degenerate_cases():
    z, p = two_proportion_z_test(30, 100, 50, 100)
    assert z < 0 and p > 0.99
    assert two_proportion_z_test(0, 10, 0, 20) == (0.0, 0.5)
    assert two_proportion_z_test(10, 10, 20, 20) == (0.0, 0.5)
    assert two_proportion_z_test(3, 10, 0, 0) == (0.0, 0.5)
    z, p = two_proportion_z_test(50, 100, 50, 100)
    assert z == 0.0 and p == 0.5


# --- mean ---------------------------------------------------------------------------------

@pytest.mark.parametrize("p, df, t", [
    (0.975, 1, 12.70620474),
    (0.975, 2, 4.30265273),
    (0.975, 3, 3.182446305),
    (0.975, 4, 2.776445105),
    (0.975, 5, 2.570581836),
    (0.975, 10, 2.228138852),
    (0.975, 30, 2.042272456),
    (0.995, 3, 5.840909309),
    (0.95, 9, 1.833112933),
    (0.975, 1000, 1.962339081),
])
def test_t_quantile_table_values(p, df, t):
    assert t_quantile(p, df) == pytest.approx(t, rel=1e-8)
    assert t_quantile(1 - p, df) == pytest.approx(-t, rel=1e-8)


def test_mean_interval_textbook():
    # n = 10, mean 5.0, sd 2.0: half width = t(0.975, 9) * 2 / sqrt(10) = 2.262157 * 0.632456
    mean, lo, hi = mean_interval(n=10, mean=5.0, sd=2.0)
    assert mean == 5.0
    assert hi - mean == pytest.approx(2.2621571628 * 2.0 / math.sqrt(10), rel=1e-8)
    assert mean - lo == pytest.approx(hi - mean)


def test_mean_interval_from_values_matches_summary():
    values = [12, 15, 9, 20, 17, 11, 14, 16]
    n = len(values)
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    assert mean_interval(values) == pytest.approx(mean_interval(n=n, mean=m, sd=sd))
    assert mean_interval(values, confidence=0.99)[1] < mean_interval(values)[1]


def test_mean_interval_small_and_bad_input():
    assert mean_interval([3.0]) is None
    assert mean_interval([]) is None
    assert mean_interval(n=1, mean=3.0, sd=0.0) is None
    with pytest.raises(ValueError):
        mean_interval([1, 2], n=2, mean=1.5, sd=0.7)
    with pytest.raises(ValueError):
        mean_interval(n=5, mean=1.0)


def test_mean_interval_narrows_with_n_and_large_n_is_normal():
    rng = random.Random(1)
    small = [rng.gauss(100, 15) for _ in range(20)]
    big = small * 50
    _, lo1, hi1 = mean_interval(small)
    m, lo2, hi2 = mean_interval(big)
    assert hi2 - lo2 < hi1 - lo1
    sd = math.sqrt(sum((v - m) ** 2 for v in big) / (len(big) - 1))
    assert hi2 - m == pytest.approx(1.96 * sd / math.sqrt(len(big)), rel=2e-3)


# --- quantile (order statistics) ----------------------------------------------------------

def test_median_interval_textbook_ranks():
    # Distribution-free 95 % interval for the median: n = 10 -> (x(2), x(9)); n = 20 -> (x(6), x(15)).
    assert quantile_interval(list(range(1, 11)), 0.5) == (2, 9)
    assert quantile_interval(list(range(1, 21)), 0.5) == (6, 15)
    # n = 6 is the smallest sample with a 95 % median interval: (min, max), coverage 1 - 2/64.
    assert quantile_interval(list(range(1, 7)), 0.5) == (1, 6)
    assert quantile_interval(list(range(1, 6)), 0.5) is None
    assert quantile_interval([], 0.5) is None


def _coverage(n, q, l_rank, u_rank):
    cdf = lambda k: sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1))  # noqa: E731
    return cdf(u_rank - 1) - cdf(l_rank - 1), cdf(l_rank - 1), 1 - cdf(u_rank - 1)


@pytest.mark.parametrize("n, q, conf", [(60, 0.9, 0.95), (50, 0.5, 0.9), (200, 0.9, 0.95), (120, 0.25, 0.99)])
def test_quantile_interval_ranks_are_tightest_with_coverage(n, q, conf):
    values = list(range(1, n + 1))  # value == rank
    lo, hi = quantile_interval(values, q, conf)
    cover, lower_tail, upper_tail = _coverage(n, q, lo, hi)
    tail = (1 - conf) / 2
    assert cover >= conf
    assert lower_tail <= tail and upper_tail <= tail
    # one rank tighter on either side breaks a tail bound
    assert _coverage(n, q, lo + 1, hi)[1] > tail
    assert _coverage(n, q, lo, hi - 1)[2] > tail


def test_quantile_interval_large_sample_brackets_true_quantile():
    rng = random.Random(5)
    values = sorted(rng.random() for _ in range(100_000))
    lo, hi = quantile_interval(values, 0.9)
    assert lo < 0.9 < hi and hi - lo < 0.01
    assert quantile_interval(list(range(10)), 0.99) is None
    assert quantile_interval(list(range(30)), 0.9) is None  # 0.9**30 = 0.042 > 0.025 in the upper tail


@settings(max_examples=50)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.floats(0.05, 0.95))
def test_quantile_interval_contains_sample_quantile(xs, q):
    xs.sort()
    out = quantile_interval(xs, q)
    if out is not None:
        lo, hi = out
        sample_q = xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]
        assert lo <= sample_q <= hi


def _ranks_from_full_cdf(n, q, conf=0.95):
    """The order-statistic ranks from the binomial CDF over every k (lgamma per term)."""
    log_q, log_1q = math.log(q), math.log1p(-q)
    total, cdf = 0.0, []
    for k in range(n + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_q + (n - k) * log_1q)
        cdf.append(min(total, 1.0))
    tail = (1 - conf) / 2
    lo = max(r for r in range(1, n + 1) if cdf[r - 1] <= tail)
    hi = min(r for r in range(1, n + 1) if cdf[r - 1] >= 1 - tail)
    return lo, hi


@pytest.mark.parametrize("n, q", [(1000, 0.5), (1000, 0.02), (20_000, 0.9), (100_000, 0.5), (100_000, 0.001)])
def test_quantile_interval_truncated_table_gives_the_full_cdf_ranks(n, q):
    # The table stops 12 sigma + 50 from the mean; the ranks must be those of the whole CDF.
    assert quantile_interval(range(1, n + 1), q) == _ranks_from_full_cdf(n, q)
