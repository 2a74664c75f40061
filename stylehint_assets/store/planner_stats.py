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
"""
from __future__ import annotations

from sqlalchemy import Connection, Table, text


def _planned_rows(conn: Connection, table: Table) -> float:
    """``pg_class.reltuples``: the rows the planner believes in (-1: never analysed)."""
    row = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"),
                       {"name": table.name}).first()
    return -1.0 if row is None else float(row[0])


def analyze_after_write(conn: Connection, table: Table, written: int, share: float = 2.0) -> bool:
    """ANALYZE ``table`` when ``written`` rows outnumber ``share`` of what its statistics know
    of; returns whether it did. SQLite plans these reads well without statistics."""
    if conn.dialect.name != "postgresql" or written <= 0 or written <= share * _planned_rows(conn, table):
        return False
    conn.execute(text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}"))  # our identifier, not data
    return True
