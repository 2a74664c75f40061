"""Explore and served runs over a window, aggregated in the database for the off-policy estimates."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select

from .aggregates import _count_if
from .schema import autofill_events as ev


def explore_form_counts(conn: Connection, start: date, end: date) -> list[dict[str, Any]]:
    """Explore runs with a style per (host, schema_hash, gen_style_id): runs and helpful."""
    keys = [ev.c.host, ev.c.schema_hash, ev.c.gen_style_id]
    q = (
        select(*keys, func.count().label("runs"), _count_if(ev.c.feedback_status == "helpful").label("helpful"))
        .where(and_(ev.c.event_day.between(start, end), ev.c.policy == "explore", ev.c.gen_style_id.is_not(None)))
        .group_by(*keys)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def served_run_totals(conn: Connection, start: date, end: date) -> dict[str, dict[str, int]]:
    """Runs with a style that were not explore runs, by policy (``exploit``, ``fallback``, or
    ``unknown`` for null): runs and helpful. What the loop actually served."""
    policy = func.coalesce(ev.c.policy, "unknown")
    q = (
        select(policy.label("policy"), func.count().label("runs"),
               _count_if(ev.c.feedback_status == "helpful").label("helpful"))
        .where(and_(ev.c.event_day.between(start, end), ev.c.gen_style_id.is_not(None),
                    func.coalesce(ev.c.policy, "unknown") != "explore"))
        .group_by(policy)
    )
    return {r["policy"]: {"runs": int(r["runs"]), "helpful": int(r["helpful"])} for r in conn.execute(q).mappings()}
