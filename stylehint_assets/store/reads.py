"""Read paths for the CLI and the extension's API: snapshots and the served view."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from ..domain.profiles import served_view
from ..domain.ranking import LEVELS
from .hint_choice import assemble_hints
from .schema import form_profile_snapshots as fps, form_profiles, publish_state, style_hints


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def hints_as_of(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    """Every hint as of ``as_of`` (SPEC 5 fields, without the levels tried), by host and form."""
    hints = assemble_hints(conn, as_of, levels_tried=False)
    return [{"host": host, "schema_hash": schema, **hint} for (host, schema), hint in sorted(hints.items())]


def snapshot_exists(conn: Connection, as_of: date) -> bool:
    """Whether the snapshot as of a day was built: it holds a profile or a hint for some form."""
    return any(conn.execute(select(t.c.as_of).where(t.c.as_of == as_of).limit(1)).first() is not None
               for t in (fps, style_hints))


def profiles_as_of(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    rows = conn.execute(select(fps).where(fps.c.as_of == as_of).order_by(fps.c.host, fps.c.schema_hash)).mappings()
    return [_jsonable(dict(r)) for r in rows]


def published_as_of(conn: Connection) -> tuple[date | None, datetime | None, str | None]:
    """The newest published snapshot: (as_of, published_at, run_id); Nones before the first publish."""
    row = conn.execute(select(publish_state.c.as_of, publish_state.c.published_at, publish_state.c.run_id)
                       .where(publish_state.c.id == 1)).first()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def published_coverage(conn: Connection) -> tuple[date, int, int] | None:
    """The served snapshot's (as_of, profiles, profiles with a recommendation), counted in the
    database; None before the first publish."""
    as_of = published_as_of(conn)[0]
    if as_of is None:
        return None
    profiles, covered = conn.execute(select(
        func.count(), func.sum(case((form_profiles.c.source.in_(LEVELS), 1), else_=0)))).one()
    return as_of, int(profiles), int(covered or 0)


def served_profile(conn: Connection, host: str, schema_hash: str) -> dict[str, Any] | None:
    """The served row of one form with its full hint, assembled from its snapshot's stats."""
    row = conn.execute(select(form_profiles).where(form_profiles.c.host == host,
                                                   form_profiles.c.schema_hash == schema_hash)).mappings().first()
    if not row:
        return None
    hint = assemble_hints(conn, row["as_of"], [(host, schema_hash)]).get((host, schema_hash))
    return _jsonable({**dict(row), "style_hint": hint})


def api_view(conn: Connection, host: str, schema_hash: str, profile_enabled: bool) -> dict[str, Any]:
    """What the extension's API returns for one form (guard and shadow mode applied)."""
    return served_view(served_profile(conn, host, schema_hash), profile_enabled)


def hint_detail(conn: Connection, host: str, schema_hash: str, as_of: date | None = None) -> dict[str, Any] | None:
    """The full stored hint (with the levels tried), as of a day or as published."""
    if as_of is None:
        as_of = published_as_of(conn)[0]
        if as_of is None:
            return None
    return assemble_hints(conn, as_of, [(host, schema_hash)]).get((host, schema_hash))
