"""Shared fixtures: a learning store on SQLite and on the local PostgreSQL.

PostgreSQL tests run in CI (CI=true), never skipped there; on a machine without the
server they skip with the reason.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from stylehint_assets.store.engine import get_engine, upgrade
from stylehint_assets.store.schema import metadata, publish_state
from stylehint_assets.config import Settings

# The driver of the PostgreSQL tests: psycopg2 (default) or psycopg (3); scripts/test.sh runs the
# store tests once more with the other one.
PG_DRIVER = os.environ.get("STYLEHINT_TEST_PG_DRIVER", "psycopg2")
PG_ADMIN_URL = os.environ.get("STYLEHINT_TEST_PG_URL", f"postgresql+{PG_DRIVER}://postgres@127.0.0.1:5432/postgres")
RECEIVED = datetime(2025, 3, 31, 12, 0, 0)


def _pg_available() -> str | None:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"


@pytest.fixture(scope="session")
def pg_database_url():
    """A throwaway database on the local server for this test session."""
    reason = _pg_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests: start it with scripts/start-postgres.sh)")
        pytest.skip(reason)
    name = f"stylehint_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # identifier, not a value: made here, not user input
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset(engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name not in ("stylehint_schema", "publish_state"):
                conn.execute(table.delete())
        conn.execute(publish_state.update().values(as_of=None, published_at=None, profiles=None, run_id=None))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """An empty learning store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/learning.db"
    else:
        url = request.getfixturevalue("pg_database_url")
    _reset(get_engine(url))
    return url


@pytest.fixture
def engine(database_url):
    return get_engine(database_url)


@pytest.fixture
def settings(database_url):
    """Defaults of SPEC, with the KPI gates open so small hand-made snapshots publish."""
    return Settings(database_url=database_url, kpi_min_coverage=0.0, kpi_max_none=1.0, kpi_segment_range=(0.0, 1.0))
