"""Off-policy evaluation as of a day: what each ranking would have achieved, from explore runs.

Every ranking chooses its hints from the stored statistics as of D (nothing is written);
each is then scored on the window's explore runs (``domain.off_policy``). The estimates are
in-sample: the explore runs that score a ranking are also part of the statistics it ranked,
which flatters every ranking a little and the ones that follow small samples most.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from .config import Settings
from .domain.intervals import wilson_interval
from .domain.off_policy import policy_value
from .domain.ranking import RANKINGS
from .runner import window_for
from .store.explore import explore_form_counts, served_run_totals
from .store.schema import form_profile_snapshots as fps
from .store.hint_choice import choose_style_hints


class NoSnapshot(ValueError):
    """No profiles are stored as of the day."""


def _rate(helpful: int, runs: int) -> dict[str, Any]:
    if not runs:
        return {"value": None, "low": None, "high": None, "n": 0}
    low, high = wilson_interval(helpful, runs)
    return {"value": round(helpful / runs, 6), "low": round(low, 6), "high": round(high, 6), "n": runs}


def evaluate(conn: Connection, as_of: date, settings: Settings) -> dict[str, Any]:
    """Per ranking: IPS and SNIPS estimates with 95 % intervals; and the served runs' rate."""
    if not conn.execute(select(func.count()).where(fps.c.as_of == as_of)).scalar_one():
        raise NoSnapshot(f"no snapshot as of {as_of}: run `stylehint materialize --as-of {as_of}` first")
    start, end = window_for(as_of, settings)
    cells = explore_form_counts(conn, start, end)
    n_styles = len({c["gen_style_id"] for c in cells})
    rankings = {}
    for ranking in RANKINGS:
        rows = choose_style_hints(conn, as_of, settings.thresholds, ranking)
        choice = {(r["host"], r["schema_hash"]): r["preferred_style_id"] for r in rows}
        rankings[ranking] = policy_value(cells, choice, n_styles).as_json()
    served = served_run_totals(conn, start, end)
    explore_runs = sum(int(c["runs"]) for c in cells)
    explore_helpful = sum(int(c["helpful"]) for c in cells)
    return {
        "as_of": as_of.isoformat(), "window": [start.isoformat(), end.isoformat()], "styles": n_styles,
        "configured_ranking": settings.ranking,
        "rankings": rankings,
        "served": {
            "all": _rate(sum(v["helpful"] for v in served.values()), sum(v["runs"] for v in served.values())),
            **{policy: _rate(v["helpful"], v["runs"]) for policy, v in sorted(served.items())},
        },
        "uniform_explore": _rate(explore_helpful, explore_runs),
    }
