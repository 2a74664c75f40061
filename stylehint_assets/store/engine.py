"""Engines for the learning store: SQLite file by default, PostgreSQL in production."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import zlib

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import make_url

from .schema import publish_state

def safe_url(url: str) -> str:
    """The URL with its password masked, for logs and metadata."""
    return make_url(url).render_as_string(hide_password=True)


def _normalize(url: str) -> str:
    parsed = make_url(url)
    # psycopg2 ships with dagster-postgres; SQLAlchemy 2.1 would otherwise pick psycopg 3. Both
    # work (``postgresql+psycopg://`` names psycopg 3); plain postgresql:// keeps the one Dagster uses.
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def fixed_point(value: float | None, digits: int) -> str | None:
    """SQLite's ``stylehint_fixed(x, d)``: ``x`` with ``d`` decimals as Python formats it (ties to
    even on the exact binary value); SQLite's own ``printf`` rounds ties away from zero."""
    return None if value is None else format(value, f".{int(digits)}f")


@functools.cache
def get_engine(url: str) -> Engine:
    """One pooled engine per URL per process."""
    url = _normalize(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets readers and one writer work at once
            dbapi_conn.isolation_level = None  # transactions are begun below, not by pysqlite
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            dbapi_conn.create_function("stylehint_fixed", 2, fixed_point, deterministic=True)

        @event.listens_for(engine, "begin")
        def _begin(conn):  # take the write lock up front: no read-then-write upgrade deadlocks
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # preserve_rowcount: the store reads the rowcount of INSERT … SELECT, which psycopg 3 (unlike
    # psycopg2) reports as -1 unless SQLAlchemy keeps it.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         execution_options={"preserve_rowcount": True},
                         connect_args={"options": session_options(parsed.query.get("options"))})


# Session defaults for the aggregation queries. JIT compiles each query for ~0.1 s, which these
# sub-second GROUP BYs never win back; with the server's 4 MB default work_mem the wider ones
# sort instead of hashing (on 1M events the field-map grouping took 1.19 s, 0.80 s with 32 MB).
# work_mem is per sort or hash node per process: a run uses one or two, with 6 concurrent runs.
SESSION_DEFAULTS = "-c jit=off -c work_mem=32MB"


def session_options(url_options: str | None = None) -> str:
    """libpq ``options`` for stylehint's sessions: the defaults, then ``PGOPTIONS``, then the
    URL's own ``options``; a later ``-c`` wins, so an operator overrides either."""
    if isinstance(url_options, tuple):
        url_options = " ".join(url_options)
    parts = [SESSION_DEFAULTS, os.environ.get("PGOPTIONS", ""), url_options or ""]
    return " ".join(p for p in parts if p.strip())


WRITE_LOCK_CLASS = 0x5354  # "ST": two-key advisory locks of the partition writers (the ingest uses one key)


def lock_table_writes(conn: Connection, table: str) -> None:
    """Serialise the writers of one derived table until the end of ``conn``'s transaction.

    A partition write deletes its rows and inserts new ones. Two runs of the same partition at
    once would otherwise both delete the old rows and both insert (duplicated partials, or a
    primary-key error for the snapshot tables): with the lock the second waits, then its
    DELETE sees and replaces the first one's rows, as if the runs had gone one after the
    other. SQLite needs nothing: ``BEGIN IMMEDIATE`` already admits one writer at a time.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:cls, :obj)"),
                     {"cls": WRITE_LOCK_CLASS, "obj": zlib.crc32(table.encode()) & 0x7FFFFFFF})


def upgrade(engine: Engine) -> str | None:
    """Apply the pending schema revisions (idempotent) and seed the one-row tables; returns the
    store's Alembic revision."""
    from .migrate import upgrade as migrate_to_head

    revision = migrate_to_head(engine)
    with engine.begin() as conn:
        if conn.execute(select(publish_state.c.id)).first() is None:
            conn.execute(insert(publish_state).values(id=1))
    return revision
