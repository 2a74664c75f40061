"""The ``empirical_bayes`` ranking's prior strength, fitted on a snapshot's own statistics.

The method-of-moments sums of ``domain.ranking.fitted_prior_runs`` are computed in the
database over the snapshot's form-level (form, style) cells, each read against the same
style's ratio in the form's segment; only five numbers reach Python. The sums are floating
point, so PostgreSQL and SQLite may differ in the last bits; the fitted k is rounded to whole
pseudo-runs, so both give the same k except on a rounding boundary."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Float, and_, cast, func, select

from ..domain.hosts import OTHER
from ..domain.ranking import fitted_prior_runs
from .schema import form_profile_snapshots as fps, form_style_stats as fss, segment_style_stats as sss


def between_form_moments(conn: Connection, as_of: date) -> tuple[int, float, float, float, float]:
    """(cells, runs, squared deviation, binomial variance, expected helpful) as of ``as_of``:
    the arguments of ``fitted_prior_runs``. Profiles of family other or without a segment have
    no segment level and are left out."""
    n = cast(fss.c.total_runs, Float)
    p = cast(sss.c.helpful, Float) / cast(sss.c.total_runs, Float)
    deviation = cast(fss.c.helpful, Float) - n * p
    q = (
        select(func.count(), func.sum(n), func.sum(deviation * deviation / n), func.sum(p * (1.0 - p)), func.sum(n * p))
        .select_from(
            fss.join(fps, and_(fps.c.as_of == fss.c.as_of, fps.c.host == fss.c.host, fps.c.schema_hash == fss.c.schema_hash))
               .join(sss, and_(sss.c.as_of == fss.c.as_of, sss.c.host_family == fps.c.host_family,
                               sss.c.segment_key == fps.c.segment_key, sss.c.gen_style_id == fss.c.gen_style_id))
        )
        .where(fss.c.as_of == as_of, fss.c.total_runs > 0, sss.c.total_runs > 0, fps.c.host_family != OTHER)
    )
    cells, runs, squared, binomial, expected = conn.execute(q).one()
    return int(cells), float(runs or 0.0), float(squared or 0.0), float(binomial or 0.0), float(expected or 0.0)


def prior_runs_as_of(conn: Connection, as_of: date) -> int:
    """The fitted k of the snapshot as of ``as_of`` (``domain.ranking.fitted_prior_runs``)."""
    return fitted_prior_runs(*between_form_moments(conn, as_of))
