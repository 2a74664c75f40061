"""Planner statistics after a bulk write that outgrew them.

PostgreSQL's autovacuum analyzes a table once a tenth of it has changed, a minute or more
after the fact. A cold snapshot or a backfill fills the day partials and the first snapshot
tables from (nearly) empty, and the next step reads them moments later: with statistics of an
empty table the planner takes millions of rows for a few hundred and sorts on disk where it
would hash (at 1M real-shape events the touched forms' canonical maps took 8.9 s unanalysed,
4.0 s analysed). So a write of more than twice the rows the planner believes the table holds
(the table at least tripled) samples it at once, in the writer's transaction (which holds the
table's write lock already; the rows it inserted count as live). A daily write into a table
already about that large (the six-hourly run's one day of partials, the second as-of day of
the snapshots) is left to autovacuum: sampling a snapshot table costs 0.3-0.7 s at 1M events.

The snapshot tables hold one set of rows per as-of day, and their reads select one day. A day
the statistics have not seen (not among the column's most common values) is planned as one
row: at 1M events, the hints' best-style self-join over 214,000 form stats of the new day ran
as a nested loop for over ten minutes. So a write of an as-of day the planner does not know
re-samples that column (``ANALYZE table (as_of)``, about 0.15 s at 1M), once per new day.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Table, text


def planned_rows(conn: Connection, table: Table) -> float:
    """``pg_class.reltuples``: the rows the planner believes in (-1: never analysed)."""
    row = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"),
                       {"name": table.name}).first()
    return -1.0 if row is None else float(row[0])


def _day_known(conn: Connection, table: Table, column: str, day: date) -> bool:
    """Whether ``day`` is among the most common values the planner keeps for ``column``."""
    known = conn.execute(text(
        "SELECT CAST(:day AS date) = ANY(CAST(CAST(most_common_vals AS text) AS date[])) FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = :table AND attname = :column"),
        {"day": day, "table": table.name, "column": column}).scalar()
    return bool(known)


def analyze_after_write(conn: Connection, table: Table, written: int, share: float = 2.0,
                        day: date | None = None, column: str = "as_of") -> str | None:
    """ANALYZE ``table`` when ``written`` rows outnumber ``share`` of what its statistics know
    of, else only its ``column`` when the rows written are of a ``day`` the statistics do not
    know; returns what it analyzed (None: nothing). SQLite plans these reads well without."""
    if conn.dialect.name != "postgresql" or written <= 0:
        return None
    name = conn.dialect.identifier_preparer.format_table(table)   # our identifiers, not data
    if written > share * planned_rows(conn, table):
        conn.execute(text(f"ANALYZE {name}"))
        return "table"
    if day is not None and not _day_known(conn, table, column, day):
        conn.execute(text(f"ANALYZE {name} ({conn.dialect.identifier_preparer.quote(column)})"))
        return column
    return None
