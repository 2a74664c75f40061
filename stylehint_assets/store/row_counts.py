"""Row counts of a table, in all and within a range of days, counted in the database.

The rows of a range of days are counted exactly (through the day's index). The whole table is
counted exactly on SQLite and below ``EXACT_BELOW`` rows; above, on PostgreSQL, it is the
planner's figure (``pg_class.reltuples``, kept current by ANALYZE after large writes and by
autovacuum), because an exact ``count(*)`` of a snapshot table grows with the history kept: at
1M real-shape events with two as-of days the counts of one six-hourly run already took ~1.3 s
(0.44 s for ``form_profile_snapshots`` alone), and with 90 days of history each snapshot table
holds 45 times as many rows."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Table, func, select

from .planner_stats import planned_rows

# Below this many rows (by the planner's figure) an exact count costs < 0.2 s: count them.
EXACT_BELOW = 1_000_000


def day_column(table: Table) -> str | None:
    """The column a daily partition selects rows by: the event day, else the as-of day."""
    for name in ("event_day", "as_of"):
        if name in table.c:
            return name
    return None


def row_counts(conn: Connection, table: Table, start: date, end: date,
               exact_below: int = EXACT_BELOW) -> tuple[int, int | None]:
    """All rows (on PostgreSQL the planner's figure from ``exact_below`` rows up), and the rows
    whose day lies in start..end (None for a table without a day)."""
    total = round(planned_rows(conn, table)) if conn.dialect.name == "postgresql" else -1
    if total < 0 or total < exact_below:   # never analysed (-1), or small enough to count
        total = conn.execute(select(func.count()).select_from(table)).scalar_one()
    column = day_column(table)
    if column is None:
        return int(total), None
    within = conn.execute(select(func.count()).select_from(table)
                          .where(table.c[column].between(start, end))).scalar_one()
    return int(total), int(within)
