"""The closed-loop simulator on a small world: the loop learns, and the figures add up."""
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "simulate_loop.py"
_spec = importlib.util.spec_from_file_location("simulate_loop", _PATH)
sim = importlib.util.module_from_spec(_spec)
sys.modules["simulate_loop"] = sim   # dataclasses look their module up
_spec.loader.exec_module(sim)


def test_world_is_long_tailed_and_seeded():
    world, days = sim.world_days(seed=5, days=10, runs_per_day=300, epsilon=0.1)
    runs = [r for day in days for r in day]
    forms = Counter(r.form for r in runs)
    assert 0.07 < len(world.forms) / len(runs) < 0.13            # about one new form per ten runs
    top = sum(n for _, n in forms.most_common(len(forms) // 10))
    assert top / len(runs) > 0.4                                    # the busiest tenth of forms: most runs
    assert sum(n == 1 for n in forms.values()) / len(forms) > 0.15  # and a tail seen once
    assert 0.07 < sum(r.explore for r in runs) / len(runs) < 0.13
    again, _ = sim.world_days(seed=5, days=10, runs_per_day=300, epsilon=0.1)
    assert [f.schema_hash for f in again.forms] == [f.schema_hash for f in world.forms]


def test_a_short_loop_learns_through_the_pipeline(tmp_path):
    figures = sim.run_loop("ratio", seed=2, days=8, runs_per_day=250, epsilon=0.1, workdir=str(tmp_path))
    assert [f.runs for f in figures] == [250] * 8
    assert figures[0].hinted_runs == 0 and figures[-1].hinted_runs > 100       # day 1 had nothing published
    assert figures[-1].covered_share > 0.5
    summary = sim.summarize(figures)
    assert 0 < summary["mean_regret"] < 0.2 and 0.2 < summary["helpful_rate"] < 0.6
    assert summary["regret_share_by_source"]["explore"] > 0
    assert sum(summary["regret_share_by_source"].values()) == pytest.approx(1.0)
    # served hints beat having none: once hints are published the daily regret drops
    assert sum(summary["regret_by_day"][-3:]) < sum(summary["regret_by_day"][:1]) * 3
    assert list(tmp_path.iterdir()) == []                                       # the loop's store is gone


def test_markdown_table_compares_against_ratio():
    figures = {"ratio": {1: {"helpful_rate": 0.4, "mean_regret": 0.03, "cumulative_regret": 30.0, "coverage": 0.85,
                             "hinted_share": 0.8}},
               "beta": {1: {"helpful_rate": 0.41, "mean_regret": 0.027, "cumulative_regret": 27.0, "coverage": 0.85,
                            "hinted_share": 0.8}}}
    table = sim.markdown(figures)
    assert "| beta | 1 | 0.4100 | 0.0270 | 0.90x | 85.0% | 80.0% |" in table


@pytest.mark.parametrize("ranking", ["empirical_bayes", "bayes_ucb"])
def test_hierarchical_rankings_drive_a_short_loop_at_ratios_coverage(tmp_path, ranking):
    """The opt-in rankings run the loop end to end; the levels are SPEC 5's, so coverage stays."""
    ratio = sim.summarize(sim.run_loop("ratio", seed=3, days=6, runs_per_day=200, epsilon=0.1, workdir=str(tmp_path)))
    eb = sim.summarize(sim.run_loop(ranking, seed=3, days=6, runs_per_day=200, epsilon=0.1, workdir=str(tmp_path)))
    assert eb["runs"] == ratio["runs"] == 1200
    assert eb["coverage"] == pytest.approx(ratio["coverage"], abs=0.01)
    assert 0 < eb["mean_regret"] < 0.2
