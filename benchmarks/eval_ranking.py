"""Evaluate STYLEHINT_RANKING (ratio vs wilson) against the synthetic generator's ground truth.

For each data size and seed: generate the events with ``stylehint_assets.synthetic`` (the
generator behind ``stylehint demo``), derive host family, segment and effective edit chars
with the project's own SPEC 2 functions, add the SPEC 4 statistics up in pandas (the same
sums the assets store; ``tests/test_reference_pandas.py`` pins that they agree), and choose
each profile's hint with the project's ranking code (``domain.ranking.choose_hint``) once per
ranking mode. Every profile with a recommendation is then scored against the world:

* correct: the chosen style is ``world.best_style(family, segment)``;
* regret: ``true_helpful_rate(best) - true_helpful_rate(chosen)`` (P(helpful | feedback)).

The profile's segment is the SPEC 5 profile segment; when it is null (no job title seen), the
form's true dominant segment from the world is used. Profiles of the ``other`` family are
scored too (their styles also have true rates). "Level < 50 runs" = the chosen level's styles
have fewer than 50 runs in total for that profile's scope; the level is the same in both
modes (which level wins depends only on which styles reach the run thresholds).

Caveat: in the generator, 85 % of exploit runs (about 64 % of all runs) use the *true* best
style, so the best style is usually also the most-run style, and a ranking that rewards
sample size benefits from that. ``--explore-only`` is the control without that bias: only
the explore runs (styles drawn uniformly at random) are ranked.

Usage: ``python benchmarks/eval_ranking.py --sizes 5000,20000,60000 --seeds 1,2,3,4,5``
(``--markdown`` prints the README table; ``--explore-only`` the control).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylehint_assets.domain.events import effective_edit_chars  # noqa: E402
from stylehint_assets.domain.hosts import host_family  # noqa: E402
from stylehint_assets.domain.ranking import StyleStat, Thresholds, choose_hint, profile_segment  # noqa: E402
from stylehint_assets.domain.segments import derive_segment  # noqa: E402
from stylehint_assets.synthetic import generate_events, make_world  # noqa: E402

END_DAY = date(2025, 3, 30)
RANKINGS = ("ratio", "wilson")
SMALL = 50


def events_frame(n: int, seed: int, world) -> pd.DataFrame:
    rows = []
    for e in generate_events(n, END_DAY, days=30, seed=seed, world=world):
        rows.append({
            "host": e["host"], "schema_hash": e["schema_hash"], "host_family": host_family(e["host"]),
            "segment_key": derive_segment(e.get("job"), e.get("segment_key")),
            "gen_style_id": e["gen_style_id"], "feedback_status": e["feedback_status"],
            "edit": effective_edit_chars(e.get("edit_chars"), e.get("edit_stats")),
            "policy": e["policy"],
        })
    return pd.DataFrame(rows)


def _stats(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, list[StyleStat]]:
    styled = frame[frame.gen_style_id.notna()].copy()
    styled["helpful"] = styled.feedback_status.eq("helpful")
    styled["unhelpful"] = styled.feedback_status.eq("unhelpful")
    styled["edit_count"] = styled.edit.notna()
    styled["edit_sum"] = styled.edit.fillna(0)
    g = styled.groupby(keys + ["gen_style_id"]).agg(
        runs=("gen_style_id", "size"), helpful=("helpful", "sum"), unhelpful=("unhelpful", "sum"),
        edit_sum=("edit_sum", "sum"), edit_count=("edit_count", "sum")).reset_index()
    out: dict[tuple, list[StyleStat]] = defaultdict(list)
    for r in g.itertuples(index=False):
        key = tuple(getattr(r, k) for k in keys)
        out[key].append(StyleStat(r.gen_style_id, int(r.runs), int(r.helpful), int(r.unhelpful), int(r.edit_sum),
                                  int(r.edit_count)))
    return out


def evaluate(n: int, seed: int, thresholds: Thresholds = Thresholds(), explore_only: bool = False) -> list[dict]:
    """One row per (profile, ranking) with a recommendation: source, level runs, correct, regret.

    ``explore_only`` keeps only the explore runs (styles drawn uniformly): a control without
    the generator's exploit bias, where the true best style also gets the most runs."""
    world = make_world(seed)
    truth_segment = {f.key: f.segment for f in world.forms}
    frame = events_frame(n, seed, world)
    if explore_only:
        frame = frame[frame.policy == "explore"]
    known = frame[frame.host_family != "other"]
    form = _stats(frame, ["host", "schema_hash"])
    seg = _stats(known[known.segment_key.notna()], ["host_family", "segment_key"])
    fam = _stats(known, ["host_family"])
    seg_counts = frame[frame.segment_key.notna()].groupby(["host", "schema_hash", "segment_key"]).size()
    per_form: dict[tuple, dict] = defaultdict(dict)
    for (host, schema, segment), count in seg_counts.items():
        per_form[(host, schema)][segment] = int(count)
    rows = []
    for (host, schema), family in frame.groupby(["host", "schema_hash"]).host_family.first().items():
        segment = profile_segment(per_form.get((host, schema), {}))
        true_segment = segment or truth_segment[(host, schema)]
        best = world.best_style(family, true_segment)
        for ranking in RANKINGS:
            choice = choose_hint(family, segment, form.get((host, schema), []), seg.get((family, segment), []),
                                 fam.get((family,), []), thresholds, ranking=ranking)
            if choice.preferred is None:
                continue
            chosen = choice.preferred.gen_style_id
            rows.append({
                "size": n, "seed": seed, "ranking": ranking, "source": choice.source,
                "level_runs": sum(s.total_runs for s in choice.chosen_level.styles),
                "correct": chosen == best,
                "regret": (world.true_helpful_rate(family, true_segment, best)
                           - world.true_helpful_rate(family, true_segment, chosen)),
            })
    return rows


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per size, ranking and slice: profiles, accuracy and mean regret (pooled over seeds), and
    the spread of the per-seed accuracy."""
    slices = {"all": rows, **{f"source={s}": rows[rows.source == s] for s in ("form", "segment", "family")},
              f"level < {SMALL} runs": rows[rows.level_runs < SMALL]}
    out = []
    for name, part in slices.items():
        for (size, ranking), g in part.groupby(["size", "ranking"]):
            per_seed = g.groupby("seed").correct.mean()
            out.append({"size": size, "slice": name, "ranking": ranking, "profiles": len(g) / g.seed.nunique(),
                        "accuracy": g.correct.mean(), "accuracy_sd": per_seed.std(ddof=1) if len(per_seed) > 1 else 0.0,
                        "mean_regret": g.regret.mean(),
                        "wilson_wins_seeds": None})
    return pd.DataFrame(out)


def paired(rows: pd.DataFrame) -> pd.DataFrame:
    """Per size and slice: in how many seeds wilson's accuracy was >=, and >, ratio's."""
    out = []
    slices = {"all": rows, f"level < {SMALL} runs": rows[rows.level_runs < SMALL]}
    for name, part in slices.items():
        acc = part.groupby(["size", "seed", "ranking"]).correct.mean().unstack("ranking")
        for size, g in acc.groupby(level="size"):
            out.append({"size": size, "slice": name, "seeds": len(g),
                        "wilson >= ratio": int((g.wilson >= g.ratio).sum()),
                        "wilson > ratio": int((g.wilson > g.ratio).sum()),
                        "mean gain (points)": 100 * (g.wilson - g.ratio).mean()})
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame) -> str:
    wide = summary.pivot_table(index=["size", "slice"], columns="ranking",
                               values=["profiles", "accuracy", "accuracy_sd", "mean_regret"], sort=False)
    lines = ["| events | profiles scored | slice | accuracy ratio | accuracy wilson | mean regret ratio | mean regret wilson |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    order = ["all", "source=form", "source=segment", "source=family", f"level < {SMALL} runs"]
    for size in sorted(summary["size"].unique()):
        for name in order:
            if (size, name) not in wide.index:
                continue
            r = wide.loc[(size, name)]
            lines.append(
                f"| {size:,} | {r[('profiles', 'ratio')]:.0f} | {name} | "
                f"{100 * r[('accuracy', 'ratio')]:.1f} % (sd {100 * r[('accuracy_sd', 'ratio')]:.1f}) | "
                f"{100 * r[('accuracy', 'wilson')]:.1f} % (sd {100 * r[('accuracy_sd', 'wilson')]:.1f}) | "
                f"{r[('mean_regret', 'ratio')]:.4f} | {r[('mean_regret', 'wilson')]:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,20000,60000", help="event counts per 30 days (comma separated)")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="world and event seeds (comma separated)")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--explore-only", action="store_true",
                        help="control: rank on explore runs only (no exploit bias towards the true best style)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    started = time.perf_counter()
    rows = []
    for size in sizes:
        for seed in seeds:
            rows.extend(evaluate(size, seed, explore_only=args.explore_only))
            print(f"size {size:,} seed {seed}: done ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    frame = pd.DataFrame(rows)
    summary = summarise(frame)
    if args.markdown:
        print(markdown(summary))
        print()
        print(paired(frame).to_markdown(index=False, floatfmt=".2f"))
    else:
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            print(summary.drop(columns=["wilson_wins_seeds"]).round(4).to_string(index=False))
            print()
            print(paired(frame).round(2).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
