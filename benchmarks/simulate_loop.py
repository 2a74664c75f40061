"""Closed-loop simulator: does the learning loop find the best style, and which ranking finds it faster?

A real-shape world (a long tail of forms: about one new (host, schema_hash) per ten runs,
Zipf-like popularity) is run day by day through the real
pipeline. Each run of the extension reads the served table and uses the published hint's
style (``policy = exploit``), a uniformly random style with probability epsilon
(``explore``), or its own default style when the form has no served hint (``fallback``). The
day's events go through the ingest entry point (``stylehint_assets.ingest.ingest_records``); then the
day's partials are rebuilt, the snapshot as of that day is computed
(``whatif.compute_snapshot``: the store functions the window assets call, in their order) and
published (``store.snapshots.publish``), and the next day's runs see it.

Store functions, not Dagster runs: a Dagster run costs about a second of event-log writes per
materialization (README, Performance), which over 60 days x rankings x seeds would be most of
the simulator's time while computing the same rows; the asset tests pin that the assets call
these functions. Each (ranking, seed) loop has its own SQLite file in a temporary directory.

Truth: every (form, style) has a true P(helpful | feedback) = the family/segment/style rate of
``synthetic.make_world`` (clear best style per segment) + a per-form effect per style (sd
0.05, so a form's best style differs from its segment's in a good share of the forms). 30 %
of runs give no feedback (as in ``synthetic``). Reported per ranking and seed, over all runs
of all days:
  * helpful rate: the mean true P(helpful) of the style each run used (no feedback = not helpful);
  * mean regret: the mean of P(helpful | best style of the form) - P(helpful | style used);
  * coverage: the mean over days of the published snapshot's share of profiles with a hint.
The world's draws (forms, times, explore coin, feedback uniforms) depend only on the seed, so
the rankings are compared on common random numbers: differences are the rankings' own.

Usage: ``python benchmarks/simulate_loop.py`` (5 rankings x 3 seeds x 60 days, a few minutes);
``--markdown`` prints the README table; ``--plot docs/loop_regret.png`` draws the regret plot
(needs matplotlib: ``pip install -e '.[bench]'``); ``--json`` the figures as one JSON object,
which ``--load FILE`` reads back to redraw the table and plot without simulating again.
"""
from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from stylehint_assets.config import Settings  # noqa: E402
from stylehint_assets.domain.coverage import coverage  # noqa: E402
from stylehint_assets.domain.records import Record  # noqa: E402
from stylehint_assets.store import aggregates  # noqa: E402
from stylehint_assets.store.engine import get_engine, upgrade  # noqa: E402
from stylehint_assets.ingest import ingest_records  # noqa: E402
from stylehint_assets.store.schema import form_profiles, style_hints  # noqa: E402
from stylehint_assets.store.snapshots import publish  # noqa: E402
from stylehint_assets.synthetic import DEFAULT_STYLE, SEGMENTS, STYLES, TITLES, make_world  # noqa: E402
from stylehint_assets.whatif import compute_snapshot  # noqa: E402

FAMILY_DOMAINS = {"greenhouse": "greenhouse.io", "lever": "jobs.lever.co", "workday": "wd5.myworkdayjobs.com",
                  "ashby": "ashbyhq.com", "bamboohr": "bamboohr.com", "other": None}
FAMILY_MIX = {"greenhouse": 0.29, "lever": 0.16, "workday": 0.16, "ashby": 0.11, "bamboohr": 0.11, "other": 0.17}
SEGMENT_MIX = {"intern": 0.15, "junior": 0.20, "senior": 0.25, "default": 0.40}
P_FEEDBACK = 0.70          # runs with helpful/unhelpful feedback
P_OWN_SEGMENT = 0.80       # a run's job is in its form's segment, else any segment
P_NO_JOB = 0.05            # runs without a job title (no segment)
FORM_EFFECT_SD = 0.05      # per-form, per-style deviation from the segment's true rate
FIRST_DAY = date(2025, 3, 1)


@dataclass
class LoopForm:
    host: str
    schema_hash: str
    family: str
    segment: str
    success: float                 # P(status ok)
    effects: tuple[float, ...]     # per style, added to the segment's rate


@dataclass(frozen=True)
class Run:
    """One run's context and its random draws; the style is the policy's to choose."""
    form: int
    segment: str | None
    title: str | None
    created_at: str
    explore: bool
    explore_style: int
    u_feedback: float
    u_helpful: float
    u_status: float
    u_edit: float


@dataclass
class LoopWorld:
    """Forms appear as runs arrive: a new form with probability ``new_form_share``, else an
    existing form drawn in proportion to its popularity, a Pareto (Zipf-like) weight fixed when
    the form appears. Unlike preferential attachment, the first forms get no head start."""
    seed: int
    new_form_share: float = 0.10
    pareto_alpha: float = 1.1
    forms: list[LoopForm] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"stylehint-loop|{self.seed}")
        self.rates = make_world(self.seed).rates   # (family, segment, style) -> P(helpful | feedback)

    def _new_form(self) -> int:
        rng = self.rng
        family = rng.choices(list(FAMILY_MIX), weights=list(FAMILY_MIX.values()))[0]
        company = f"co{len(self.forms):05d}{rng.choice(('', '-labs', '-corp', '-ai'))}"
        suffix = FAMILY_DOMAINS[family]
        host = f"{company}.{suffix}" if suffix else f"careers.{company}.com"
        quality = rng.random()
        self.forms.append(LoopForm(
            host=host, schema_hash=f"{rng.getrandbits(64):016x}", family=family,
            segment=rng.choices(list(SEGMENT_MIX), weights=list(SEGMENT_MIX.values()))[0],
            success=rng.uniform(0.35, 0.5) if quality < 0.04 else rng.uniform(0.84, 0.97),
            effects=tuple(rng.gauss(0.0, FORM_EFFECT_SD) for _ in STYLES),
        ))
        weight = (1.0 - rng.random()) ** (-1.0 / self.pareto_alpha)
        self.cumulative.append((self.cumulative[-1] if self.cumulative else 0.0) + weight)
        return len(self.forms) - 1

    def _existing_form(self) -> int:
        return min(bisect.bisect_right(self.cumulative, self.rng.random() * self.cumulative[-1]), len(self.forms) - 1)

    def rate(self, form: LoopForm, segment: str, style: int) -> float:
        return min(0.95, max(0.05, self.rates[(form.family, segment, STYLES[style])] + form.effects[style]))

    def expected_rates(self, index: int) -> tuple[float, ...]:
        """P(helpful | feedback) per style over the form's mix of run segments."""
        form = self.forms[index]
        mix = {s: (1 - P_OWN_SEGMENT) * w for s, w in SEGMENT_MIX.items()}
        mix[form.segment] += P_OWN_SEGMENT
        return tuple(sum(w * self.rate(form, s, k) for s, w in mix.items()) for k in range(len(STYLES)))

    def day_runs(self, day: date, n_runs: int, epsilon: float) -> list[Run]:
        rng = self.rng
        runs = []
        for _ in range(n_runs):
            form = self._new_form() if not self.forms or rng.random() < self.new_form_share else self._existing_form()
            if rng.random() < P_NO_JOB:
                segment, title = None, None
            else:
                segment = self.forms[form].segment if rng.random() < P_OWN_SEGMENT else rng.choice(SEGMENTS)
                title = rng.choice(TITLES[segment])
            second = rng.randrange(86400)
            created = datetime(day.year, day.month, day.day) + timedelta(seconds=second)
            runs.append(Run(form, segment, title, created.isoformat() + "Z", rng.random() < epsilon,
                            rng.randrange(len(STYLES)), rng.random(), rng.random(), rng.random(), rng.random()))
        return runs


def world_days(seed: int, days: int, runs_per_day: int, epsilon: float) -> tuple[LoopWorld, list[list[Run]]]:
    world = LoopWorld(seed)
    return world, [world.day_runs(FIRST_DAY + timedelta(days=d), runs_per_day, epsilon) for d in range(days)]


def event(world: LoopWorld, run: Run, style: int, policy: str, used_hint: bool, seed: int, number: int) -> dict:
    form = world.forms[run.form]
    rate = world.rate(form, run.segment or form.segment, style)
    feedback = None if run.u_feedback >= P_FEEDBACK else ("helpful" if run.u_helpful < rate else "unhelpful")
    mean_edit = {"helpful": 35.0, "unhelpful": 220.0, None: 110.0}[feedback]
    return {
        "event_id": f"loop-{seed}-{number}", "host": form.host, "schema_hash": form.schema_hash,
        "created_at": run.created_at, "gen_style_id": STYLES[style], "feedback_status": feedback,
        "edit_chars": int(-mean_edit * math.log(1.0 - run.u_edit)),
        "status": "ok" if run.u_status < form.success else "validation_error",
        "duration_ms": 4000 + int(run.u_edit * 4000),
        "job": {"title": run.title} if run.title else None,
        "policy": policy, "profile_used": used_hint, "profile_source": "server_only" if used_hint else "heuristics_only",
    }


def served_hints(engine) -> dict[tuple[str, str], tuple[str | None, str]]:
    """What the extension's API serves, per published profile: (style or None, where it came
    from: the hint's source, or ``rejected`` when the quality guard keeps it from being served)."""
    with engine.connect() as conn:
        rows = conn.execute(select(form_profiles.c.host, form_profiles.c.schema_hash, form_profiles.c.preferred_style_id,
                                   form_profiles.c.source, form_profiles.c.served))
        return {(h, s): (style, source) if served else (None, "rejected") for h, s, style, source, served in rows}


@dataclass
class DayFigures:
    day: date
    runs: int
    regret: float          # sum over runs, in P(helpful) units
    helpful_rate: float    # sum over runs of the true P(helpful)
    covered_share: float   # of the snapshot published at the end of the day
    hinted_runs: int       # runs that had a served hint
    regret_by_source: dict[str, float] = field(default_factory=dict)  # explore, new form, or the hint's source


def run_loop(ranking: str, seed: int, days: int = 60, runs_per_day: int = 300, epsilon: float = 0.1,
             workdir: str | None = None, settings: Settings | None = None) -> list[DayFigures]:
    """One closed loop: ``days`` days of runs, each day ingested, aggregated and published."""
    world, stream = world_days(seed, days, runs_per_day, epsilon)
    default = STYLES.index(DEFAULT_STYLE)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=f"loop-{ranking}-{seed}-") as tmp:
        url = f"sqlite:///{tmp}/learning.db"
        settings = replace(settings or Settings.from_env({}), database_url=url, ranking=ranking,
                           start_date=FIRST_DAY - timedelta(days=60))
        engine = get_engine(url)
        upgrade(engine)
        figures, number, index = [], 0, {}
        try:
            for d, runs in enumerate(stream):
                day = FIRST_DAY + timedelta(days=d)
                hints = served_hints(engine)
                events, regret, helpful, hinted, by_source = [], 0.0, 0.0, 0, {}
                for run in runs:
                    form = world.forms[run.form]
                    hint, source = hints.get((form.host, form.schema_hash), (None, "new form"))
                    if run.explore:
                        style, policy = run.explore_style, "explore"
                    elif hint is not None and hint in STYLES:
                        style, policy = STYLES.index(hint), "exploit"
                    else:
                        style, policy = default, "fallback"
                    hinted += hint is not None
                    rates = index.get(run.form) or index.setdefault(run.form, world.expected_rates(run.form))
                    lost = P_FEEDBACK * (max(rates) - rates[style])
                    regret += lost
                    bucket = "explore" if policy == "explore" else source
                    by_source[bucket] = by_source.get(bucket, 0.0) + lost
                    helpful += P_FEEDBACK * rates[style]
                    events.append(event(world, run, style, policy, hint is not None and policy == "exploit", seed, number))
                    number += 1
                end_of_day = datetime(day.year, day.month, day.day, 23, 59, 59)
                report = ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(events)),
                                        settings=settings, received_at=end_of_day, source="simulate_loop")
                if report.rejected:
                    raise RuntimeError(f"{report.rejected} simulated events rejected: {report.rejected_by_reason}")
                with engine.begin() as conn:
                    aggregates.rebuild_daily_event_partials(conn, day, day, end_of_day)
                    aggregates.rebuild_daily_field_map_counts(conn, day, day)
                    compute_snapshot(conn, day, settings)
                    publish(conn, day, end_of_day, run_id=f"simulate_loop-{day}")
                    sources = [s for (s,) in conn.execute(select(style_hints.c.source).where(style_hints.c.as_of == day))]
                figures.append(DayFigures(day, len(runs), regret, helpful, float(coverage(sources)["covered_share"]), hinted,
                                          by_source))
        finally:
            engine.dispose()
    return figures


def summarize(figures: Sequence[DayFigures]) -> dict:
    runs = sum(f.runs for f in figures)
    return {
        "runs": runs,
        "helpful_rate": sum(f.helpful_rate for f in figures) / runs,
        "mean_regret": sum(f.regret for f in figures) / runs,
        "cumulative_regret": sum(f.regret for f in figures),
        "coverage": sum(f.covered_share for f in figures) / len(figures),
        "hinted_share": sum(f.hinted_runs for f in figures) / runs,
        "regret_by_day": [f.regret / f.runs for f in figures],
        "regret_share_by_source": {k: sum(f.regret_by_source.get(k, 0.0) for f in figures) / max(1e-12, sum(f.regret for f in figures))
                                   for k in sorted({k for f in figures for k in f.regret_by_source})},
    }


def _one(args: tuple) -> tuple[str, int, dict, float]:
    ranking, seed, days, runs_per_day, epsilon = args
    start = time.perf_counter()
    figures = run_loop(ranking, seed, days, runs_per_day, epsilon)
    return ranking, seed, summarize(figures), time.perf_counter() - start


def simulate(rankings: Sequence[str], seeds: Sequence[int], days: int, runs_per_day: int, epsilon: float,
             jobs: int = 1) -> dict[str, dict[int, dict]]:
    tasks = [(r, s, days, runs_per_day, epsilon) for s in seeds for r in rankings]
    results: dict[str, dict[int, dict]] = {r: {} for r in rankings}
    if jobs > 1:
        pool = ProcessPoolExecutor(jobs)
        outcomes: Iterator = (f.result() for f in as_completed([pool.submit(_one, t) for t in tasks]))
    else:
        pool, outcomes = None, (_one(t) for t in tasks)
    for ranking, seed, summary, seconds in outcomes:
        summary["seconds"] = seconds
        results[ranking][seed] = summary
        print(f"{ranking:<7} seed {seed}: helpful {summary['helpful_rate']:.4f}  mean regret {summary['mean_regret']:.4f}  "
              f"coverage {summary['coverage']:.3f}  ({seconds:.0f} s)", file=sys.stderr, flush=True)
    if pool is not None:
        pool.shutdown()
    return results


def markdown(results: dict[str, dict[int, dict]], baseline: str = "ratio") -> str:
    seeds = sorted(next(iter(results.values())))
    lines = ["| ranking | seed | helpful rate | mean regret | regret vs ratio | coverage | runs with a hint |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for ranking, per_seed in results.items():
        for seed in seeds:
            s = per_seed[seed]
            base = results.get(baseline, {}).get(seed)
            ratio = f"{s['cumulative_regret'] / base['cumulative_regret']:.2f}x" if base else "-"
            lines.append(f"| {ranking} | {seed} | {s['helpful_rate']:.4f} | {s['mean_regret']:.4f} | {ratio} | "
                         f"{s['coverage']:.1%} | {s['hinted_share']:.1%} |")
    return "\n".join(lines)


def plot(results: dict[str, dict[int, dict]], path: str, window: int = 7) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (daily, cumulative) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ranking, per_seed in results.items():
        series = [s["regret_by_day"] for s in per_seed.values()]
        mean = [sum(day) / len(day) for day in zip(*series)]
        smooth = [sum(mean[max(0, i - window + 1):i + 1]) / len(mean[max(0, i - window + 1):i + 1]) for i in range(len(mean))]
        days = range(1, len(mean) + 1)
        daily.plot(days, smooth, label=ranking)
        total, running = 0.0, []
        for value in mean:
            total += value
            running.append(total)
        cumulative.plot(days, running, label=ranking)
    daily.set_title(f"mean regret per run ({window}-day mean, {len(series)} seeds)")
    daily.set_xlabel("simulated day")
    daily.set_ylabel("P(helpful) lost vs the form's best style")
    cumulative.set_title("cumulative regret (sum of daily means)")
    cumulative.set_xlabel("simulated day")
    for ax in (daily, cumulative):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rankings", default="ratio,wilson,beta,empirical_bayes,bayes_ucb")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--runs-per-day", type=int, default=300)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--jobs", type=int, default=1, help="loops run in parallel (the machine is shared: 1 by default)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", help="write the regret plot (PNG) here")
    parser.add_argument("--load", help="read the figures of an earlier --json run instead of simulating")
    args = parser.parse_args(argv)
    if args.days < 1 or args.runs_per_day < 1 or not 0.0 <= args.epsilon <= 1.0:
        parser.error("--days and --runs-per-day must be >= 1 and --epsilon within 0-1")
    os.environ.setdefault("STYLEHINT_INGEST_BATCH_SIZE", "5000")
    if args.load:
        loaded = json.loads(Path(args.load).read_text())
        results = {r: {int(seed): x for seed, x in per.items()} for r, per in loaded.items()}
    else:
        results = simulate(args.rankings.split(","), [int(s) for s in args.seeds.split(",")], args.days,
                           args.runs_per_day, args.epsilon, args.jobs)
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps({r: {str(s): x for s, x in sorted(per.items())} for r, per in results.items()}))
    else:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
