"""``/readyz``: the learning store answers and its schema is the one this release writes."""
from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from ..store.schema import SCHEMA_VERSION, schema_info
from .faults import store_unavailable


def readiness(engine: Engine) -> tuple[bool, str]:
    """(ready, one-line reason)."""
    try:
        with engine.connect() as conn:
            version = conn.execute(select(schema_info.c.version).where(schema_info.c.id == 1)).scalar()
    except SQLAlchemyError as exc:
        if store_unavailable(exc) and "no such table" not in str(exc):
            return False, "learning store unavailable"
        return False, "learning store has no stylehint schema: run `stylehint db upgrade`"
    if version is None:
        return False, "learning store has no stylehint schema: run `stylehint db upgrade`"
    if version != SCHEMA_VERSION:
        return False, f"learning store schema is version {version}, this release needs {SCHEMA_VERSION}: run `stylehint db upgrade`"
    return True, "ready"
