"""Read paths for the CLI and the extension's API: snapshots and the served view."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from ..domain.profiles import served_view
from ..domain.ranking import LEVELS
from .schema import form_profile_snapshots as fps, form_profiles, publish_state, style_hints


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def hints_as_of(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    rows = conn.execute(select(style_hints).where(style_hints.c.as_of == as_of)
                        .order_by(style_hints.c.host, style_hints.c.schema_hash)).mappings()
    out = []
    for r in rows:
        hint = r["hint"]
        out.append({"host": r["host"], "schema_hash": r["schema_hash"], **{k: hint[k] for k in hint if k != "levels_tried"}})
    return out


def profiles_as_of(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    rows = conn.execute(select(fps).where(fps.c.as_of == as_of).order_by(fps.c.host, fps.c.schema_hash)).mappings()
    return [_jsonable(dict(r)) for r in rows]


def published(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(select(publish_state).where(publish_state.c.id == 1)).mappings().first()
    return _jsonable(dict(row)) if row and row["as_of"] else None


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
    row = conn.execute(select(form_profiles).where(form_profiles.c.host == host,
                                                   form_profiles.c.schema_hash == schema_hash)).mappings().first()
    return _jsonable(dict(row)) if row else None


def api_view(conn: Connection, host: str, schema_hash: str, profile_enabled: bool) -> dict[str, Any]:
    """What the extension's API returns for one form (guard and shadow mode applied)."""
    return served_view(served_profile(conn, host, schema_hash), profile_enabled)


def hint_detail(conn: Connection, host: str, schema_hash: str, as_of: date | None = None) -> dict[str, Any] | None:
    """The full stored hint (with the levels tried), as of a day or as published."""
    if as_of is None:
        as_of = published_as_of(conn)[0]
        if as_of is None:
            return None
    row = conn.execute(select(style_hints.c.hint).where(style_hints.c.as_of == as_of, style_hints.c.host == host,
                                                        style_hints.c.schema_hash == schema_hash)).first()
    return row[0] if row else None
