"""Publishing a snapshot: the served ``form_profiles`` replaced with a day's profiles and hints.

The snapshots themselves are built by ``profile_figures`` (SPEC 6) and ``hint_choice`` (SPEC 5).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, delete, func, insert, literal, or_, select, update

from ..domain.counters import PROFILES_REJECTED, PROFILES_UPDATED, STYLE_CHOICE
from .counters import add_increments
from .planner_stats import analyze_after_write
from .profile_figures import PROFILE_COLUMNS
from .reads import published_as_of
from .schema import form_profile_snapshots as fps, form_profiles, publish_state, style_hints


@dataclass(frozen=True)
class PublishResult:
    published: bool
    as_of: date
    profiles: int = 0
    served: int = 0
    current_as_of: date | None = None


def publish(conn: Connection, as_of: date, now: datetime, run_id: str | None = None,
            allow_older: bool = False) -> PublishResult:
    """Replace the served ``form_profiles`` with the snapshot as of ``as_of``, in the caller's
    transaction, unless a newer snapshot is already published (``allow_older``: an operator's
    rollback). Counts the choices durably."""
    newest_wins = or_(publish_state.c.as_of.is_(None), publish_state.c.as_of <= as_of)
    claimed = conn.execute(
        update(publish_state)
        .where(publish_state.c.id == 1, *(() if allow_older else (newest_wins,)))
        .values(as_of=as_of, published_at=now, run_id=run_id)
    ).rowcount
    if not claimed:
        return PublishResult(False, as_of, current_as_of=published_as_of(conn)[0])
    conn.execute(delete(form_profiles))
    cols = PROFILE_COLUMNS
    source = (
        select(*(fps.c[c] for c in cols), style_hints.c.preferred_style_id, style_hints.c.source,
               literal(now, type_=form_profiles.c.published_at.type))
        .select_from(fps.outerjoin(style_hints, (style_hints.c.as_of == fps.c.as_of)
                                   & (style_hints.c.host == fps.c.host)
                                   & (style_hints.c.schema_hash == fps.c.schema_hash)))
        .where(fps.c.as_of == as_of)
    )
    profiles = conn.execute(insert(form_profiles).from_select(
        [*cols, "preferred_style_id", "source", "published_at"], source)).rowcount
    analyze_after_write(conn, form_profiles, profiles)
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
