"""Each window asset's rows as of a day, derived from a base snapshot when ``snapshot_basis``
allows it and built cold otherwise; either way the rows equal a cold recompute (SPEC 3) and the
basis of the new rows is recorded in the same transaction. Returns what ran, for the metadata.
"""
from __future__ import annotations

from datetime import date, datetime

from ..domain.profiles import GuardPolicy
from ..domain.ranking import Thresholds
from . import aggregates, snapshot_basis as basis
from .planner_stats import analyze_after_write
from .schema import form_profile_snapshots, style_hints
from .hint_choice import build_style_hints, derive_style_hints
from .profile_figures import build_form_profiles, derive_form_profiles, touched_forms

HINT_INPUTS = ("form_style_stats", "segment_style_stats", "family_style_stats", "form_profiles")


def refresh_style_stats(conn, level: str, as_of: date, start: date, end: date, now: datetime) -> tuple[int, str]:
    asset = f"{level}_style_stats"
    inputs, settings = basis.partials_digest(conn, start, end), basis.digest(level)
    plan = basis.window_derivation(conn, asset, as_of, start, end, settings)
    if plan.base is None:
        rows = aggregates.rebuild_style_stats(conn, level, as_of, start, end)
    else:
        rows = aggregates.derive_style_stats(conn, level, as_of, plan.base, plan.entering, plan.leaving)
    basis.record(conn, asset, as_of, start, end, inputs, settings, plan.base, now)
    analyze_after_write(conn, aggregates.STATS_TABLES[level], rows)
    return rows, plan.describe()


def refresh_form_profiles(conn, as_of: date, start: date, end: date, policy: GuardPolicy,
                          now: datetime) -> tuple[int, str]:
    inputs, settings = basis.partials_digest(conn, start, end), basis.digest(repr(policy))
    plan = basis.window_derivation(conn, "form_profiles", as_of, start, end, settings)
    if plan.base is None:
        rows, how = build_form_profiles(conn, as_of, start, end, policy), plan.describe()
    else:
        rows, recomputed = derive_form_profiles(conn, as_of, start, end, policy, plan.base, plan.changed)
        how = f"{plan.describe()}; {recomputed} profile(s) recomputed, {rows - recomputed} kept"
    basis.record(conn, "form_profiles", as_of, start, end, inputs, settings, plan.base, now)
    analyze_after_write(conn, form_profile_snapshots, rows)
    return rows, how


def _inputs_digest(conn, as_of: date):
    """(digest of the hints' input snapshots as of ``as_of``, their basis rows) or (None, reason)."""
    rows = [basis.basis_of(conn, asset, as_of) for asset in HINT_INPUTS]
    if any(r is None for r in rows):
        return None, f"no basis recorded for the inputs as of {as_of}"
    return basis.digest(*((r["inputs"], r["base_as_of"], r["built_at"]) for r in rows)), rows


def _hints_base(conn, as_of: date, settings: str, ranking: str) -> tuple[date | None, tuple, str]:
    """(base, changed days, why cold): the hints can be derived from ``base`` when every input as of
    ``as_of`` was derived from ``base``'s inputs over the same changed days, and ``base``'s hints
    were chosen, with today's settings, from exactly those inputs as they stand."""
    if ranking != "ratio":
        return None, (), f"ranking {ranking} is chosen in Python, over every profile"
    _, rows = _inputs_digest(conn, as_of)
    if not isinstance(rows, list):
        return None, (), rows
    bases = {r["base_as_of"] for r in rows}
    windows = {(r["window_start"], r["window_end"]) for r in rows}
    if len(bases) != 1 or None in bases or len(windows) != 1:
        return None, (), "an input as of this day was built cold or from another base"
    base = bases.pop()
    recorded = basis.basis_of(conn, "style_hints", base)
    if recorded is None:
        return None, (), f"no basis recorded for the hints as of {base}"
    if recorded["settings"] != settings:
        return None, (), f"the hints as of {base} were chosen with other settings"
    base_inputs, base_rows = _inputs_digest(conn, base)
    if base_inputs != recorded["inputs"]:
        return None, (), f"the inputs as of {base} changed after its hints were chosen"
    start, end = windows.pop()
    old, new = basis.days_between(base_rows[0]["window_start"], base_rows[0]["window_end"]), basis.days_between(start, end)
    return base, tuple(sorted(old ^ new)), ""


def refresh_style_hints(conn, as_of: date, lookback_days: int, thresholds: Thresholds, ranking: str,
                        now: datetime) -> tuple[int, str]:
    settings = basis.digest(lookback_days, thresholds, ranking)
    base, changed, why = _hints_base(conn, as_of, settings, ranking)
    if base is None:
        rows, how = build_style_hints(conn, as_of, lookback_days, thresholds, ranking), f"cold ({why})"
    else:
        with touched_forms(conn, changed) as forms:
            rows, fresh = derive_style_hints(conn, as_of, lookback_days, thresholds, base, forms)
        how = f"incremental from {base}: {fresh} hint(s) chosen afresh, {rows - fresh} from the segment/family levels or kept"
    inputs, _ = _inputs_digest(conn, as_of)
    start, end = (as_of, as_of)
    row = basis.basis_of(conn, "form_profiles", as_of)
    if row is not None:
        start, end = row["window_start"], row["window_end"]
    basis.record(conn, "style_hints", as_of, start, end, inputs or "none", settings, base, now)
    analyze_after_write(conn, style_hints, rows)
    return rows, how
