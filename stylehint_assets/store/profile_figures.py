"""SPEC 6 form profiles as one set-based statement: figures, segment, canonical map and the
quality guard's verdict for every (host, schema_hash) of the window, inserted into
``form_profile_snapshots`` without a row passing through Python.

The rules (see ``domain/profiles.py`` for the guard and ``domain/ranking.profile_segment``):
- figures are the window's additive partials summed: ``success_rate = ok_runs / runs``,
  ``avg_edit_chars = edit_sum / edit_count`` (null without edits), ``avg_duration_ms`` the
  mean rounded half up, ``last_seen_at`` the newest run; divisions in double precision, as
  Python's ``int / int`` does (both are the correctly rounded quotient);
- segment: the most frequent non-null segment_key, ties alphabetically first;
- canonical map: per selector the most frequent non-empty semantic, ties first in code-point
  order (``COLLATE "C"`` on PostgreSQL; SQLite compares UTF-8 bytes, the same order);
- the guard: a host override beats a family override beats the default; the reject reason
  is the one-line text of ``QualityGuard.verdict``, its figures formatted as Python formats
  them (``to_char`` on PostgreSQL; on SQLite, whose ``printf`` rounds ties away from zero,
  the ``stylehint_fixed`` function that the engine registers).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger, Boolean, Connection, Float, String, and_, case, cast, column, delete, func, insert, literal,
    select, true, type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from ..domain.profiles import GuardPolicy
from .bulk import insert_select, staged
from .engine import lock_table_writes
from .snapshot_basis import in_groups, on_days, touched_groups
from .schema import daily_event_partials as dp, daily_field_map_counts as fm, form_profile_snapshots as fps

PROFILE_COLUMNS = ["as_of", "host", "schema_hash", "host_family", "segment_key", "runs", "success_rate",
                   "avg_edit_chars", "avg_duration_ms", "last_seen_at", "canonical_map", "served", "reject_reason"]


def _ordered(conn: Connection, column):
    """``column`` for ORDER BY in code-point order on either backend."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _fixed(conn: Connection, value, digits: int):
    """``format(value, f".{digits}f")`` in SQL, rounding exactly as Python does."""
    if conn.dialect.name == "postgresql":
        return func.to_char(value, literal("FM99999999999990." + "0" * digits))
    return func.stylehint_fixed(value, literal(digits))


def _guard_figure(policy: GuardPolicy, host, family, pick) -> tuple:
    """(number, its text as Python prints it) of the guard that applies to each row."""
    whens = [(host == h, g) for h, g in policy.by_host.items()] + [(family == f, g) for f, g in policy.by_family.items()]

    def expr(value_of, type_):
        if not whens:
            return literal(value_of(policy.default), type_=type_)
        return case(*((cond, literal(value_of(g), type_=type_)) for cond, g in whens),
                    else_=literal(value_of(policy.default), type_=type_))

    return expr(lambda g: float(pick(g)), Float), expr(lambda g: str(pick(g)), String)


FORM_KEYS = ("host", "schema_hash")


def _of(table, forms) -> tuple:
    """The condition that keeps only the rows of ``table`` of the forms in ``forms`` (a staged
    table of host, schema_hash; None: every form)."""
    return () if forms is None else (in_groups(forms, table, FORM_KEYS),)


_FIGURE_SUMS = ("runs", "ok_runs", "edit_sum", "edit_count", "duration_sum", "duration_count")


def _figures(conn: Connection, start: date, end: date, forms=None):
    """Per form, its window's sums and its segment from one pass over the partials: summed per
    (form, segment_key), then per form by window functions, the segment being the form's first
    non-null segment_key by runs (ties in code-point order). A pass per rule read the touched
    forms' partials twice (0.7 s for the segments, 0.8 s for the figures at 1M real-shape events)."""
    g = (
        select(dp.c.host, dp.c.schema_hash, dp.c.segment_key, func.max(dp.c.host_family).label("host_family"),
               *(func.sum(dp.c[c]).label(c) for c in _FIGURE_SUMS), func.max(dp.c.last_seen_at).label("last_seen_at"))
        .where(dp.c.event_day.between(start, end), *_of(dp, forms))
        .group_by(dp.c.host, dp.c.schema_hash, dp.c.segment_key)
        .subquery("segment_sums")
    )
    form = [g.c.host, g.c.schema_hash]
    first = func.row_number().over(partition_by=form, order_by=[
        g.c.segment_key.is_(None), g.c.runs.desc(), _ordered(conn, g.c.segment_key)])
    ranked = select(
        *form, g.c.segment_key, func.max(g.c.host_family).over(partition_by=form).label("host_family"),
        *(func.sum(g.c[c]).over(partition_by=form).label(c) for c in _FIGURE_SUMS),
        func.max(g.c.last_seen_at).over(partition_by=form).label("last_seen_at"), first.label("rn"),
    ).subquery("segment_ranked")
    return select(*(c for c in ranked.c if c.name != "rn")).where(ranked.c.rn == 1).subquery("figures")


def _maps(conn: Connection, start: date, end: date, forms=None):
    """Each form's window maps summed first, then each distinct map exploded once into its
    (selector, non-empty semantic) pairs: the days of a form mostly repeat the same maps."""
    window_maps = (
        select(fm.c.host, fm.c.schema_hash, fm.c.final_map, func.sum(fm.c.n).label("n"))
        .where(fm.c.event_day.between(start, end), *_of(fm, forms))
        .group_by(fm.c.host, fm.c.schema_hash, fm.c.final_map)
        .subquery("window_maps")
    )
    each = func.jsonb_each_text if conn.dialect.name == "postgresql" else func.json_each
    pairs = each(window_maps.c.final_map).table_valued(column("key", String), column("value", String))
    keys = [window_maps.c.host, window_maps.c.schema_hash, pairs.c.key, pairs.c.value]
    counts = (
        select(*keys[:2], pairs.c.key.label("selector"), pairs.c.value.label("semantic"),
               func.sum(window_maps.c.n).label("n"))
        .select_from(window_maps.join(pairs, true()))
        .where(pairs.c.value.is_not(None), pairs.c.value != "")
        .group_by(*keys)
        .subquery("map_counts")
    )
    ranked = select(
        counts.c.host, counts.c.schema_hash, counts.c.selector, counts.c.semantic,
        func.row_number().over(partition_by=[counts.c.host, counts.c.schema_hash, counts.c.selector],
                               order_by=[counts.c.n.desc(), _ordered(conn, counts.c.semantic)]).label("rn"),
    ).subquery("map_ranked")
    agg = func.jsonb_object_agg if conn.dialect.name == "postgresql" else func.json_group_object
    return (
        select(ranked.c.host, ranked.c.schema_hash, agg(ranked.c.selector, ranked.c.semantic).label("canonical_map"))
        .where(ranked.c.rn == 1)
        .group_by(ranked.c.host, ranked.c.schema_hash)
        .subquery("maps")
    )


def profiles_query(conn: Connection, as_of: date, start: date, end: date, policy: GuardPolicy, maps, forms=None):
    """One row per profile of ``start..end``, in ``PROFILE_COLUMNS`` order (``maps``: the staged
    canonical-map rows; ``forms``: only these)."""
    f = _figures(conn, start, end, forms)
    success = cast(f.c.ok_runs, Float) / cast(f.c.runs, Float)
    edit = case((f.c.edit_count > 0, cast(f.c.edit_sum, Float) / cast(f.c.edit_count, Float)), else_=None)
    duration = case((f.c.duration_count > 0, cast(func.floor(
        cast(f.c.duration_sum, Float) / cast(f.c.duration_count, Float) + 0.5), BigInteger)), else_=None)
    min_success, min_success_text = _guard_figure(policy, f.c.host, f.c.host_family, lambda g: g.min_success)
    max_edit, max_edit_text = _guard_figure(policy, f.c.host, f.c.host_family, lambda g: g.max_edit)
    low_success = success < min_success
    heavy_edit = and_(edit.is_not(None), edit > max_edit)
    reason = case(
        (low_success, literal("success_rate ") + _fixed(conn, success, 3) + literal(" < ") + min_success_text),
        (heavy_edit, literal("avg_edit_chars ") + _fixed(conn, edit, 1) + literal(" > ") + max_edit_text),
        else_=None,
    )
    empty = cast(literal("{}"), JSONB) if conn.dialect.name == "postgresql" else func.json_object()
    canonical = func.coalesce(maps.c.canonical_map, empty)
    served = case((low_success, False), (heavy_edit, False), else_=True)
    return (
        select(
            literal(as_of, type_=fps.c.as_of.type).label("as_of"), f.c.host, f.c.schema_hash, f.c.host_family,
            f.c.segment_key, cast(f.c.runs, BigInteger).label("runs"), success.label("success_rate"),
            edit.label("avg_edit_chars"), duration.label("avg_duration_ms"), f.c.last_seen_at,
            type_coerce(canonical, fps.c.canonical_map.type).label("canonical_map"),
            type_coerce(served, Boolean).label("served"), reason.label("reject_reason"),
        )
        .select_from(
            f.outerjoin(maps, and_(maps.c.host == f.c.host, maps.c.schema_hash == f.c.schema_hash))
        )
    )


def _insert_profiles(conn: Connection, as_of: date, start: date, end: date, policy: GuardPolicy, forms=None) -> int:
    """The canonical maps are staged and indexed first: joined as a subquery, SQLite scans them
    once per profile."""
    columns = [fps.c.host, fps.c.schema_hash, fps.c.canonical_map]
    with staged(conn, "profile_maps", select(_maps(conn, start, end, forms)), columns,
                index=FORM_KEYS) as maps:
        return insert_select(conn, fps, PROFILE_COLUMNS, profiles_query(conn, as_of, start, end, policy, maps, forms))


def build_form_profiles(conn: Connection, as_of: date, start: date, end: date, policy: GuardPolicy) -> int:
    """Replace the profiles as of ``as_of`` with those of the window ``start..end``; returns rows."""
    lock_table_writes(conn, fps.name)
    conn.execute(delete(fps).where(fps.c.as_of == as_of))
    return _insert_profiles(conn, as_of, start, end, policy)


def touched_forms(conn: Connection, days):
    """A staged table of the forms with partials on ``days`` (the days entering or leaving a window)."""
    return touched_groups(conn, "touched_forms", [fps.c.host, fps.c.schema_hash], on_days(dp.c.event_day, days))


def derive_form_profiles(conn: Connection, as_of: date, start: date, end: date, policy: GuardPolicy,
                         base: date, changed_days) -> tuple[int, int]:
    """Replace the profiles as of ``as_of`` with those of ``base`` (whose window differs from
    ``start..end`` by ``changed_days`` only): the forms those days touch are recomputed over the
    window, the others' partials are unchanged, so their rows are ``base``'s. Returns
    (rows, recomputed)."""
    lock_table_writes(conn, fps.name)
    conn.execute(delete(fps).where(fps.c.as_of == as_of))
    with touched_forms(conn, changed_days) as forms:
        untouched = ~in_groups(forms, fps, FORM_KEYS)
        copy = select(literal(as_of, type_=fps.c.as_of.type), *(fps.c[c] for c in PROFILE_COLUMNS[1:])).where(
            fps.c.as_of == base, untouched)
        copied = conn.execute(insert(fps).from_select(PROFILE_COLUMNS, copy)).rowcount
        recomputed = _insert_profiles(conn, as_of, start, end, policy, forms)
    return copied + recomputed, recomputed


def profile_summary(conn: Connection, as_of: date, top: int = 10):
    """(profiles, served, the ``top`` profiles by runs) as of ``as_of``, for the asset's metadata."""
    total, served = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((fps.c.served.is_(True), 1), else_=0)), 0))
        .where(fps.c.as_of == as_of)).one()
    cols = [fps.c.host, fps.c.schema_hash, fps.c.runs, fps.c.success_rate, fps.c.avg_edit_chars, fps.c.served]
    head = conn.execute(select(*cols).where(fps.c.as_of == as_of)
                        .order_by(fps.c.runs.desc(), fps.c.host, fps.c.schema_hash).limit(top)).mappings().all()
    return int(total), int(served), [dict(r) for r in head]

