"""Schema versions of the learning store, kept by Alembic (revisions in ``store/migrations``).

``upgrade`` applies the pending revisions; a store created by ``create_all`` before Alembic
(it has the ``stylehint_schema`` table but no ``alembic_version``) is stamped with the first
revision, which is exactly that schema, and then upgraded like any other.
"""
from __future__ import annotations

import functools
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"          # the schema as ``create_all`` made it before Alembic
LEGACY_MARKER = "stylehint_schema"  # the table that ``create_all`` stores carry
_UPGRADE_LOCK = zlib.crc32(b"stylehint-migrations") & 0x7FFFFFFF


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config on the packaged revisions; env.py runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The store's revision; None for an empty store or one from before Alembic."""
    return MigrationContext.configure(conn).get_current_revision()


def is_legacy_store(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return LEGACY_MARKER in tables and "alembic_version" not in tables


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply pending revisions up to ``revision`` (idempotent); returns the store's revision."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # two processes upgrading at once: the second waits
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        if revision == "head" and current_revision(conn) == head_revision():
            return head_revision()   # the common case, one SELECT: every CLI command passes here
        config = alembic_config(conn)
        if is_legacy_store(conn):
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)
        return current_revision(conn)


def downgrade(engine: Engine, revision: str) -> str | None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)
        return current_revision(conn)


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_revision(conn)
