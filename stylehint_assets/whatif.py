"""What-if snapshots: the snapshot as of a day under other settings, computed and then rolled back.

``compute_snapshot`` is the one seam that computes a snapshot as of D into the store: the
three style-stat levels, the form profiles and the hints, through the same store functions
the window assets call, in their order, in the caller's transaction. ``tune`` runs it in a
transaction that is always rolled back, so stored snapshots and the served table stay as
they were; the closed-loop simulator runs it in one that commits.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from .clock import utcnow
from .config import Settings
from .domain.coverage import coverage
from .domain.off_policy import policy_value
from .runner import window_for
from .store import aggregates
from .store.explore import explore_form_counts
from .store.reads import published_as_of
from .store.schema import daily_event_partials, form_profile_snapshots as fps, form_profiles, style_hints
from .store.snapshot_refresh import refresh_form_profiles, refresh_style_hints, refresh_style_stats


class NothingToCompute(ValueError):
    """The window has no daily partials: the days were never materialized."""


def compute_snapshot(conn: Connection, as_of: date, settings: Settings) -> None:
    """The snapshot as of ``as_of`` into the store, in the caller's transaction, from the
    window's daily partials (which must already be built)."""
    start, end = window_for(as_of, settings)
    now = utcnow()   # the stats and profiles write their snapshot_basis too: a later day derived from this one uses these settings
    for level in aggregates.STATS_TABLES:
        refresh_style_stats(conn, level, as_of, start, end, now)
    refresh_form_profiles(conn, as_of, start, end, settings.guard_policy, now)
    refresh_style_hints(conn, as_of, settings.lookback_days, settings.thresholds, settings.ranking)


def _snapshot_figures(conn: Connection, as_of: date, cells: list[dict[str, Any]], n_styles: int) -> dict[str, Any]:
    hints = conn.execute(select(style_hints.c.host, style_hints.c.schema_hash, style_hints.c.source,
                                style_hints.c.preferred_style_id).where(style_hints.c.as_of == as_of)).all()
    served, profiles = conn.execute(
        select(aggregates._count_if(fps.c.served.is_(True)), func.count())
        .where(fps.c.as_of == as_of)).one()
    choice = {(h, s): style for h, s, _, style in hints}
    return {
        "coverage": coverage(src for *_, src, _ in hints),
        "served": int(served), "rejected": int(profiles) - int(served),
        "off_policy": policy_value(cells, choice, n_styles).as_json(),
        "choice": choice,
    }


def _changes(tuned: dict[tuple[str, str], str | None], published: dict[tuple[str, str], str | None]) -> dict[str, int]:
    both = tuned.keys() & published.keys()
    return {
        "changed": sum(tuned[k] != published[k] for k in both),
        "unchanged": sum(tuned[k] == published[k] for k in both),
        "only_tuned": len(tuned.keys() - published.keys()),
        "only_published": len(published.keys() - tuned.keys()),
    }


def tune(engine: Engine, as_of: date, settings: Settings) -> dict[str, Any]:
    """The snapshot as of ``as_of`` under ``settings``, against the stored one and the
    published one; nothing it computes is kept."""
    start, end = window_for(as_of, settings)
    with engine.connect() as conn:
        txn = conn.begin()
        try:
            partials = conn.execute(select(func.count()).select_from(daily_event_partials)
                                    .where(daily_event_partials.c.event_day.between(start, end))).scalar_one()
            if not partials:
                raise NothingToCompute(f"no daily partials in {start}..{end}: run `stylehint materialize --as-of {as_of}` first")
            cells = explore_form_counts(conn, start, end)
            n_styles = len({c["gen_style_id"] for c in cells})
            stored = _snapshot_figures(conn, as_of, cells, n_styles)
            published = dict(((h, s), style) for h, s, style in conn.execute(
                select(form_profiles.c.host, form_profiles.c.schema_hash, form_profiles.c.preferred_style_id)).all())
            published_day = published_as_of(conn)[0]
            compute_snapshot(conn, as_of, settings)
            tuned = _snapshot_figures(conn, as_of, cells, n_styles)
        finally:
            txn.rollback()
    return {
        "as_of": as_of.isoformat(), "window": [start.isoformat(), end.isoformat()],
        "settings": {"min_form_runs": settings.min_form_runs, "min_segment_runs": settings.min_segment_runs,
                     "min_family_runs": settings.min_family_runs, "quality_min_success": settings.quality_min_success,
                     "quality_max_edit": settings.quality_max_edit, "ranking": settings.ranking},
        "styles": n_styles,
        "tuned": {k: v for k, v in tuned.items() if k != "choice"},
        "stored": {k: v for k, v in stored.items() if k != "choice"} if stored["coverage"]["profiles"] else None,
        "published_as_of": published_day.isoformat() if published_day else None,
        "vs_published": _changes(tuned["choice"], published),
    }
