"""The learning store as a Dagster resource: one SQLAlchemy URL, from STYLEHINT_DATABASE_URL."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from stylehint_assets.config import DEFAULT_DATABASE_URL
from stylehint_assets.store.engine import get_engine, safe_url

DATABASE_URL_ENV = "STYLEHINT_DATABASE_URL"


class StoreUnavailable(RuntimeError):
    """The learning store cannot be reached, or dropped the connection mid-transaction. The
    transaction was rolled back; the assets' retry policy runs the step again."""


def _unavailable(exc: DBAPIError, where: str) -> StoreUnavailable | None:
    if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return None
    reason = (str(exc.orig or exc).strip().splitlines() or ["no detail"])[0]
    return StoreUnavailable(f"learning store {where} unavailable, transaction rolled back: {reason}")


class LearningStore(dg.ConfigurableResource):
    """SQLite file by default; PostgreSQL in production (the password comes from the environment,
    e.g. PGPASSWORD, never from this config)."""

    database_url: str = DEFAULT_DATABASE_URL

    @classmethod
    def from_env(cls) -> "LearningStore":
        """The store named by STYLEHINT_DATABASE_URL, as a reference to the variable: Dagster
        resolves it when a run starts and stores only the name (run snapshots, the UI's resource
        view, event logs), so a password in the URL never reaches the instance."""
        if os.environ.get(DATABASE_URL_ENV, "").strip():
            return cls(database_url=dg.EnvVar(DATABASE_URL_ENV))
        return cls()

    @property
    def engine(self) -> Engine:
        return get_engine(self.database_url)

    @property
    def display_url(self) -> str:
        return safe_url(self.database_url)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on any error. A lost or refused
        connection surfaces as ``StoreUnavailable`` naming the store (password masked)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise _unavailable(exc, self.display_url) or exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads, with the same error as ``transaction``."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise _unavailable(exc, self.display_url) or exc
