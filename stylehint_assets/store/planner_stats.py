"""Planner statistics after a bulk rebuild of a day-partial table.

PostgreSQL's autovacuum analyzes a table once a tenth of it has changed, a minute or more
after the fact. A cold snapshot or a backfill rewrites a day-partial table from (nearly) empty
and the window assets read it moments later: without statistics the planner takes the 30-day
window for a few hundred rows and sorts millions of rows on disk where it would hash (at 1M
real-shape events, the touched forms' canonical maps 8.9 s unanalysed, 4.0 s analysed). So a
rebuild of several days, or of a table never analysed, samples it at once, in the writer's
transaction (which holds the table's write lock already; rows it inserted count as live).
A rebuild of one day on an analysed table (the six-hourly run) leaves it to autovacuum.
"""
from __future__ import annotations

from sqlalchemy import Connection, Table, text

BULK_DAYS = 2   # a rebuild of this many days or more re-samples the table


def _never_analyzed(conn: Connection, table: Table) -> bool:
    row = conn.execute(text(
        "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL FROM pg_stat_user_tables WHERE relid = "
        "to_regclass(:name)"), {"name": table.name}).first()
    return row is None or bool(row[0])


def analyze_after_rebuild(conn: Connection, table: Table, days: int) -> bool:
    """ANALYZE ``table`` after a rebuild of ``days`` days when the planner would otherwise guess;
    returns whether it did. SQLite plans these reads well without statistics."""
    if conn.dialect.name != "postgresql":
        return False
    if days < BULK_DAYS and not _never_analyzed(conn, table):
        return False
    preparer = conn.dialect.identifier_preparer
    conn.execute(text(f"ANALYZE {preparer.format_table(table)}"))  # an identifier of our schema, not data
    return True
