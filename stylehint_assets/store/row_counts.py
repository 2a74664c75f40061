"""Row counts of a table, in all and within a range of days, counted in the database."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Table, func, select


def day_column(table: Table) -> str | None:
    """The column a daily partition selects rows by: the event day, else the as-of day."""
    for name in ("event_day", "as_of"):
        if name in table.c:
            return name
    return None


def row_counts(conn: Connection, table: Table, start: date, end: date) -> tuple[int, int | None]:
    """All rows, and the rows whose day lies in start..end (None for a table without a day)."""
    total = conn.execute(select(func.count()).select_from(table)).scalar_one()
    column = day_column(table)
    if column is None:
        return int(total), None
    within = conn.execute(select(func.count()).select_from(table)
                          .where(table.c[column].between(start, end))).scalar_one()
    return int(total), int(within)
