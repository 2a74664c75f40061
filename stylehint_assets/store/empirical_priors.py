"""The ``empirical_bayes`` ranking's priors, taken from a snapshot's own statistics.

Two priors, each with a strength fitted by the method of moments
(``domain.ranking.fitted_prior_runs``): a (family, segment)'s styles are read against the same
segment pooled over the known families (job segment, not job board, is what moves a style's
rate), and a form's styles against its (family, segment)'s. The sums are computed in the
database; only a few numbers per level reach Python. They are floating point, so PostgreSQL
and SQLite may differ in the last bits; a fitted k is rounded to whole pseudo-runs, so both
give the same k except on a rounding boundary."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Float, and_, cast, func, select

from ..domain.hosts import OTHER
from ..domain.ranking import StyleStat, fitted_prior_runs
from .schema import form_profile_snapshots as fps, form_style_stats as fss, segment_style_stats as sss


@dataclass(frozen=True)
class EmpiricalPriors:
    form_prior_runs: int                                  # k of a form's styles around its segment's
    segment_prior_runs: int                               # k of a segment's styles around the pooled segment's
    pooled_segments: dict[str, tuple[StyleStat, ...]]     # segment_key -> styles summed over the known families


def _moments(conn: Connection, cell_helpful, cell_runs, prior_helpful, prior_runs, from_, where) -> tuple:
    n = cast(cell_runs, Float)
    p = cast(prior_helpful, Float) / cast(prior_runs, Float)
    deviation = cast(cell_helpful, Float) - n * p
    q = (select(func.count(), func.sum(deviation * deviation / n), func.sum(p * (1.0 - p)),
                func.sum((n - 1.0) * p * (1.0 - p)))
         .select_from(from_).where(cell_runs > 0, prior_runs > 0, *where))
    cells, squared, binomial, weight = conn.execute(q).one()
    return int(cells), float(squared or 0.0), float(binomial or 0.0), float(weight or 0.0)


def _pooled_query(as_of: date):
    return (select(sss.c.segment_key, sss.c.gen_style_id, func.sum(sss.c.total_runs).label("total_runs"),
                   func.sum(sss.c.helpful).label("helpful"), func.sum(sss.c.unhelpful).label("unhelpful"))
            .where(sss.c.as_of == as_of, sss.c.host_family != OTHER)
            .group_by(sss.c.segment_key, sss.c.gen_style_id))


def form_moments(conn: Connection, as_of: date) -> tuple[int, float, float, float]:
    """The ``fitted_prior_runs`` sums over the (form, style) cells against the same style's
    ratio in the form's (family, segment); profiles without a segment level are left out."""
    join = (fss.join(fps, and_(fps.c.as_of == fss.c.as_of, fps.c.host == fss.c.host, fps.c.schema_hash == fss.c.schema_hash))
               .join(sss, and_(sss.c.as_of == fss.c.as_of, sss.c.host_family == fps.c.host_family,
                               sss.c.segment_key == fps.c.segment_key, sss.c.gen_style_id == fss.c.gen_style_id)))
    return _moments(conn, fss.c.helpful, fss.c.total_runs, sss.c.helpful, sss.c.total_runs, join,
                    (fss.c.as_of == as_of, fps.c.host_family != OTHER))


def segment_moments(conn: Connection, as_of: date) -> tuple[int, float, float, float]:
    """The ``fitted_prior_runs`` sums over the (family, segment, style) cells of the known
    families against the same style's ratio in the segment pooled over those families."""
    pooled = _pooled_query(as_of).subquery("pooled_segment")
    join = sss.join(pooled, and_(pooled.c.segment_key == sss.c.segment_key, pooled.c.gen_style_id == sss.c.gen_style_id))
    return _moments(conn, sss.c.helpful, sss.c.total_runs, pooled.c.helpful, pooled.c.total_runs, join,
                    (sss.c.as_of == as_of, sss.c.host_family != OTHER))


def empirical_priors(conn: Connection, as_of: date) -> EmpiricalPriors:
    """Both fitted strengths and the pooled segments of the snapshot as of ``as_of``."""
    pooled: dict[str, list[StyleStat]] = {}
    for segment, style, runs, helpful, unhelpful in conn.execute(_pooled_query(as_of)):
        pooled.setdefault(segment, []).append(StyleStat(style, int(runs), int(helpful), int(unhelpful)))
    return EmpiricalPriors(fitted_prior_runs(*form_moments(conn, as_of)), fitted_prior_runs(*segment_moments(conn, as_of)),
                           {k: tuple(v) for k, v in pooled.items()})
