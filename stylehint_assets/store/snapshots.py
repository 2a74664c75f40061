"""Snapshots as of a day: form profiles (SPEC 6), style hints (SPEC 5), and their publication."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, func, insert, literal, or_, select, update

from ..domain.counters import PROFILES_REJECTED, PROFILES_UPDATED, STYLE_CHOICE
from ..domain.profiles import GuardPolicy
from ..domain.ranking import StyleStat, Thresholds, choose_hint, profile_segment, segment_preferences
from . import aggregates
from .bulk import insert_rows
from .counters import add_increments
from .engine import lock_table_writes
from .reads import published_as_of
from .schema import form_profile_snapshots as fps, form_profiles, publish_state, style_hints

HINT_COLUMNS = ["as_of", "host", "schema_hash", "host_family", "segment_key", "preferred_style_id", "source", "hint"]
PROFILE_COLUMNS = ["as_of", "host", "schema_hash", "host_family", "segment_key", "runs", "success_rate",
                   "avg_edit_chars", "avg_duration_ms", "last_seen_at", "canonical_map", "served", "reject_reason"]


def _canonical_maps(counts: pd.DataFrame) -> dict[tuple[str, str], dict[str, str]]:
    """Per form: each selector's most frequent semantic, ties alphabetically first (code-point order)."""
    maps: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    if counts.empty:
        return maps
    best = counts.sort_values(["n", "semantic"], ascending=[False, True], kind="stable")
    best = best.drop_duplicates(["host", "schema_hash", "selector"])
    for host, schema, selector, semantic in best[["host", "schema_hash", "selector", "semantic"]].itertuples(index=False):
        maps[(host, schema)][selector] = semantic
    return {k: dict(sorted(v.items())) for k, v in maps.items()}


def _segments(counts: pd.DataFrame) -> dict[tuple[str, str], str | None]:
    per_form: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for host, schema, segment, runs in counts.itertuples(index=False):
        per_form[(host, schema)][segment] = int(runs)
    return {k: profile_segment(v) for k, v in per_form.items()}


def build_form_profiles(conn: Connection, as_of: date, start: date, end: date, guards: GuardPolicy) -> pd.DataFrame:
    """Compute and store the profiles as of ``as_of`` over partials of ``start..end``."""
    lock_table_writes(conn, fps.name)
    figures = aggregates.profile_figures(conn, start, end)
    segments = _segments(aggregates.profile_segment_counts(conn, start, end))
    maps = _canonical_maps(aggregates.field_map_counts(conn, start, end))
    rows: list[dict[str, Any]] = []
    for f in figures.itertuples(index=False):
        key = (f.host, f.schema_hash)
        success = int(f.ok_runs) / int(f.runs)
        edit = int(f.edit_sum) / int(f.edit_count) if f.edit_count else None
        duration = math.floor(int(f.duration_sum) / int(f.duration_count) + 0.5) if f.duration_count else None
        reason = guards.for_profile(f.host, f.host_family).verdict(success, edit)
        rows.append({
            "as_of": as_of, "host": f.host, "schema_hash": f.schema_hash, "host_family": f.host_family,
            "segment_key": segments.get(key), "runs": int(f.runs), "success_rate": success,
            "avg_edit_chars": edit, "avg_duration_ms": duration, "last_seen_at": pd.Timestamp(f.last_seen_at).to_pydatetime(),
            "canonical_map": maps.get(key, {}), "served": reason is None, "reject_reason": reason,
        })
    conn.execute(delete(fps).where(fps.c.as_of == as_of))
    insert_rows(conn, fps, rows, PROFILE_COLUMNS)
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


def stats_by_key(frame: pd.DataFrame, keys: tuple[str, ...]) -> dict[tuple, list[StyleStat]]:
    out: dict[tuple, list[StyleStat]] = defaultdict(list)
    cols = [*keys, "gen_style_id", "total_runs", "helpful", "unhelpful", "edit_sum", "edit_count"]
    for row in frame[cols].itertuples(index=False):
        *key, style, total, helpful, unhelpful, edit_sum, edit_count = row
        out[tuple(key)].append(StyleStat(style, int(total), int(helpful), int(unhelpful), int(edit_sum), int(edit_count)))
    return out


def choose_style_hints(conn: Connection, as_of: date, lookback_days: int, thresholds: Thresholds,
                       ranking: str = "ratio") -> list[dict[str, Any]]:
    """One hint row per profile as of ``as_of`` from the stored stats and profiles, not stored
    (``stylehint evaluate`` compares rankings on the same stats this way)."""
    profiles = conn.execute(
        select(fps.c.host, fps.c.schema_hash, fps.c.host_family, fps.c.segment_key).where(fps.c.as_of == as_of)
    ).all()
    by_level = {
        level: stats_by_key(aggregates.style_stats_frame(conn, level, as_of), aggregates.STATS_KEYS[level])
        for level in aggregates.STATS_TABLES
    }
    style_by_segment = segment_preferences(by_level["segment"], thresholds, ranking)
    rows = []
    for host, schema, family, segment in profiles:
        choice = choose_hint(
            family, segment,
            by_level["form"].get((host, schema), []),
            by_level["segment"].get((family, segment), []),
            by_level["family"].get((family,), []),
            thresholds,
            ranking=ranking,
        )
        level = choice.chosen_level
        hint = {
            "preferred_style_id": choice.preferred.gen_style_id if choice.preferred else None,
            "source": choice.source,
            "segment_key": segment,
            "host_family": family,
            "as_of": as_of.isoformat(),
            "lookback_days": lookback_days,
            "ranking": ranking,
            "style_stats": {s.gen_style_id: s.as_json() for s in level.styles} if level else {},
            "style_by_segment": dict(style_by_segment.get(family, {})),
            "explanation": choice.explanation(),
            "levels_tried": [t.as_json() for t in choice.tried],
        }
        rows.append({"as_of": as_of, "host": host, "schema_hash": schema, "host_family": family,
                     "segment_key": segment, "preferred_style_id": hint["preferred_style_id"],
                     "source": choice.source, "hint": hint})
    return rows


def build_style_hints(conn: Connection, as_of: date, lookback_days: int, thresholds: Thresholds,
                      ranking: str = "ratio") -> pd.DataFrame:
    """Choose and store one hint per profile as of ``as_of`` from the stored stats and profiles."""
    lock_table_writes(conn, style_hints.name)
    rows = choose_style_hints(conn, as_of, lookback_days, thresholds, ranking)
    conn.execute(delete(style_hints).where(style_hints.c.as_of == as_of))
    insert_rows(conn, style_hints, rows, HINT_COLUMNS)
    return pd.DataFrame(rows, columns=HINT_COLUMNS)


@dataclass(frozen=True)
class PublishResult:
    published: bool
    as_of: date
    profiles: int = 0
    served: int = 0
    current_as_of: date | None = None


def publish(conn: Connection, as_of: date, now: datetime, run_id: str | None = None) -> PublishResult:
    """Replace the served ``form_profiles`` with the snapshot as of ``as_of``, in the caller's
    transaction, unless a newer snapshot is already published. Counts the choices durably."""
    claimed = conn.execute(
        update(publish_state)
        .where(publish_state.c.id == 1, or_(publish_state.c.as_of.is_(None), publish_state.c.as_of <= as_of))
        .values(as_of=as_of, published_at=now, run_id=run_id)
    ).rowcount
    if not claimed:
        return PublishResult(False, as_of, current_as_of=published_as_of(conn)[0])
    conn.execute(delete(form_profiles))
    cols = PROFILE_COLUMNS
    source = (
        select(*(fps.c[c] for c in cols), style_hints.c.preferred_style_id, style_hints.c.source,
               style_hints.c.hint, literal(now, type_=form_profiles.c.published_at.type))
        .select_from(fps.outerjoin(style_hints, (style_hints.c.as_of == fps.c.as_of)
                                   & (style_hints.c.host == fps.c.host)
                                   & (style_hints.c.schema_hash == fps.c.schema_hash)))
        .where(fps.c.as_of == as_of)
    )
    profiles = conn.execute(insert(form_profiles).from_select(
        [*cols, "preferred_style_id", "source", "style_hint", "published_at"], source)).rowcount
    served = conn.execute(select(func.count()).where(form_profiles.c.served.is_(True))).scalar_one()
    conn.execute(update(publish_state).where(publish_state.c.id == 1).values(profiles=profiles))
    choices = conn.execute(
        select(style_hints.c.source, style_hints.c.host_family, style_hints.c.segment_key, func.count())
        .where(style_hints.c.as_of == as_of)
        .group_by(style_hints.c.source, style_hints.c.host_family, style_hints.c.segment_key)
    ).all()
    add_increments(conn, [
        *((STYLE_CHOICE, (("host_family", f), ("segment_key", s or ""), ("source", src)), n) for src, f, s, n in choices),
        (PROFILES_UPDATED, (), served),
        (PROFILES_REJECTED, (), profiles - served),
    ])
    return PublishResult(True, as_of, profiles, served)
