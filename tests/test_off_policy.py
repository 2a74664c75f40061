"""Off-policy estimators: IPS and SNIPS over explore counts, on constructed samples."""
import random

import pytest

from stylehint_assets.domain.off_policy import ips_estimate, policy_value, snips_estimate

STYLES = ("a", "b", "c", "d")


def cells_for(rates_by_form: dict[str, dict[str, float]], runs_per_form: int, rng: random.Random):
    """Explore runs drawn uniformly among STYLES, helpful with the given true rates."""
    counts: dict[tuple[str, str], list[int]] = {}
    for form, rates in rates_by_form.items():
        for _ in range(runs_per_form):
            style = rng.choice(STYLES)
            cell = counts.setdefault((form, style), [0, 0])
            cell[0] += 1
            cell[1] += rng.random() < rates[style]
    return [{"host": form, "schema_hash": "s", "gen_style_id": style, "runs": runs, "helpful": helpful}
            for (form, style), (runs, helpful) in counts.items()]


def test_ips_recovers_a_known_rate_within_its_interval():
    rng = random.Random(21)
    forms = {f"f{i}.example.com": {s: rng.uniform(0.1, 0.7) for s in STYLES} for i in range(40)}
    policy = {(form, "s"): max(rates, key=rates.get) for form, rates in forms.items()}
    truth = sum(max(r.values()) for r in forms.values()) / len(forms)   # equal runs per form
    value = policy_value(cells_for(forms, 400, rng), policy, n_styles=len(STYLES))
    assert value.explore_runs == value.covered_runs == 40 * 400
    assert value.ips.low <= truth <= value.ips.high
    assert value.snips.low <= truth <= value.snips.high
    uniform = sum(sum(r.values()) / len(STYLES) for r in forms.values()) / len(forms)
    assert value.ips.high < truth + 0.05 and not value.ips.low <= uniform <= value.ips.high


def test_ips_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = random.Random(3)
    forms = {f"f{i}": {s: rng.uniform(0.2, 0.8) for s in STYLES} for i in range(10)}
    policy = {(form, "s"): "b" for form in forms}
    truth = sum(r["b"] for r in forms.values()) / len(forms)
    hits = 0
    for _ in range(300):
        v = policy_value(cells_for(forms, 60, rng), policy, len(STYLES)).ips
        hits += v.low <= truth <= v.high
    assert 0.90 <= hits / 300 <= 0.99


def test_exact_figures_on_a_hand_made_sample():
    cells = [
        {"host": "h1", "schema_hash": "s", "gen_style_id": "a", "runs": 10, "helpful": 6},
        {"host": "h1", "schema_hash": "s", "gen_style_id": "b", "runs": 10, "helpful": 1},
        {"host": "h2", "schema_hash": "s", "gen_style_id": "a", "runs": 5, "helpful": 5},
        {"host": "h3", "schema_hash": "s", "gen_style_id": "b", "runs": 8, "helpful": 8},   # no recommendation
    ]
    v = policy_value(cells, {("h1", "s"): "a", ("h2", "s"): "b", ("h3", "s"): None}, n_styles=2)
    assert (v.explore_runs, v.covered_runs, v.matched_runs) == (33, 25, 10)
    assert v.ips.value == pytest.approx(2 * 6 / 25)
    assert v.snips.value == pytest.approx(0.6) and v.snips.n == 10
    assert v.ips.low < v.ips.value < v.ips.high


def test_empty_and_invalid_counts():
    assert ips_estimate(0, 0, 5).value is None
    assert snips_estimate(0, 0).value is None
    with pytest.raises(ValueError, match="matched_helpful"):
        ips_estimate(6, 5, 5)
    assert policy_value([], {}, 5).ips.value is None
