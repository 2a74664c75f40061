"""``/readyz``: the learning store answers and its schema is at this release's head revision."""
from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..store.migrate import current_revision, head_revision
from .faults import store_unavailable

UPGRADE = "run `stylehint db upgrade`"


def readiness(engine: Engine) -> tuple[bool, str]:
    """(ready, one-line reason)."""
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    except SQLAlchemyError as exc:
        if store_unavailable(exc):
            return False, "learning store unavailable"
        return False, f"learning store has no stylehint schema: {UPGRADE}"
    if revision is None:
        return False, f"learning store has no stylehint schema: {UPGRADE}"
    if revision != head_revision():
        return False, f"learning store schema is at revision {revision}, this release needs {head_revision()}: {UPGRADE}"
    return True, "ready"
