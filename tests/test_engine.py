"""Session settings stylehint gives its PostgreSQL connections, and how an operator overrides them."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from stylehint_assets.store.engine import SESSION_DEFAULTS, get_engine, session_options


def _shown(url: str) -> tuple[str, str]:
    with get_engine(url).connect() as conn:
        return conn.execute(text("SHOW jit")).scalar(), conn.execute(text("SHOW work_mem")).scalar()


@pytest.mark.postgres
def test_sessions_run_without_jit_and_with_hash_sized_work_mem(pg_database_url):
    assert _shown(pg_database_url) == ("off", "32MB")


@pytest.mark.postgres
def test_the_urls_options_override_the_defaults(pg_database_url):
    url = pg_database_url + "?options=-c%20work_mem%3D48MB&application_name=stylehint-test-options"
    assert _shown(url) == ("off", "48MB")


def test_pgoptions_comes_after_the_defaults_and_before_the_url(monkeypatch):
    monkeypatch.setenv("PGOPTIONS", "-c jit=on")
    assert session_options("-c work_mem=8MB") == f"{SESSION_DEFAULTS} -c jit=on -c work_mem=8MB"
    monkeypatch.delenv("PGOPTIONS")
    assert session_options() == SESSION_DEFAULTS
